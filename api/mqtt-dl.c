/* SPDX-License-Identifier: MIT */
/* libmosquitto on demand; see mqtt-dl.h. */
#include <dlfcn.h>
#include <stdbool.h>
#include <stddef.h>

#include "log.h"
#include "mqtt-dl.h"

#define DEFINE_SYM(name) __typeof__(name) *sym_##name
#define SYM(name) { #name, (void **)&sym_##name }

DEFINE_SYM(mosquitto_connack_string);
DEFINE_SYM(mosquitto_connect_async);
DEFINE_SYM(mosquitto_connect_callback_set);
DEFINE_SYM(mosquitto_destroy);
DEFINE_SYM(mosquitto_disconnect);
DEFINE_SYM(mosquitto_disconnect_callback_set);
DEFINE_SYM(mosquitto_int_option);
DEFINE_SYM(mosquitto_lib_init);
DEFINE_SYM(mosquitto_loop_misc);
DEFINE_SYM(mosquitto_loop_read);
DEFINE_SYM(mosquitto_loop_write);
DEFINE_SYM(mosquitto_message_callback_set);
DEFINE_SYM(mosquitto_new);
DEFINE_SYM(mosquitto_publish);
DEFINE_SYM(mosquitto_publish_callback_set);
DEFINE_SYM(mosquitto_reinitialise);
DEFINE_SYM(mosquitto_socket);
DEFINE_SYM(mosquitto_strerror);
DEFINE_SYM(mosquitto_subscribe);
DEFINE_SYM(mosquitto_tls_set);
DEFINE_SYM(mosquitto_username_pw_set);
DEFINE_SYM(mosquitto_want_write);
DEFINE_SYM(mosquitto_will_set);

static const struct {
	const char *name;
	void **ptr;
} syms[] = {
	SYM(mosquitto_connack_string),
	SYM(mosquitto_connect_async),
	SYM(mosquitto_connect_callback_set),
	SYM(mosquitto_destroy),
	SYM(mosquitto_disconnect),
	SYM(mosquitto_disconnect_callback_set),
	SYM(mosquitto_int_option),
	SYM(mosquitto_lib_init),
	SYM(mosquitto_loop_misc),
	SYM(mosquitto_loop_read),
	SYM(mosquitto_loop_write),
	SYM(mosquitto_message_callback_set),
	SYM(mosquitto_new),
	SYM(mosquitto_publish),
	SYM(mosquitto_publish_callback_set),
	SYM(mosquitto_reinitialise),
	SYM(mosquitto_socket),
	SYM(mosquitto_strerror),
	SYM(mosquitto_subscribe),
	SYM(mosquitto_tls_set),
	SYM(mosquitto_username_pw_set),
	SYM(mosquitto_want_write),
	SYM(mosquitto_will_set),
};

static void syms_reset(void)
{
	for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++)
		*syms[i].ptr = NULL;
}

int cd_mqtt_dlopen(void)
{
	static bool loaded;
	void *dl;
	int rc;

	if (loaded)
		return 0;
	dl = dlopen(CD_MQTT_LIBMOSQUITTO, RTLD_NOW | RTLD_NODELETE);
	if (!dl)
		return log_error_errno(EOPNOTSUPP,
				       "MQTT: [mqtt] url is set but %s cannot be loaded (%s); "
				       "install libmosquitto1, or unset [mqtt] url.",
				       CD_MQTT_LIBMOSQUITTO, dlerror());
	for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
		(void)dlerror();
		*syms[i].ptr = dlsym(dl, syms[i].name);
		if (!*syms[i].ptr) {
			const char *err = dlerror();

			syms_reset();
			(void)dlclose(dl);
			return log_error_errno(EOPNOTSUPP,
					       "MQTT: %s lacks %s (%s); install libmosquitto1 "
					       "2.0 or later, or unset [mqtt] url.",
					       CD_MQTT_LIBMOSQUITTO, syms[i].name,
					       err ? err : "no such symbol");
		}
	}
	rc = sym_mosquitto_lib_init();
	if (rc != MOSQ_ERR_SUCCESS) {
		log_error("MQTT: cannot initialise %s: %s.", CD_MQTT_LIBMOSQUITTO,
			  sym_mosquitto_strerror(rc));
		syms_reset();
		/* RTLD_NODELETE: stays mapped, but nothing calls into it. */
		(void)dlclose(dl);
		return -EIO;
	}
	log_debug("MQTT: loaded %s.", CD_MQTT_LIBMOSQUITTO);
	loaded = true;
	return 0;
}
