/* SPDX-License-Identifier: MIT */
/*
 * libmosquitto, loaded with dlopen() only when [mqtt] url is set (the way
 * systemd loads its optional libraries): cardiod does not link it, so a
 * daemon without MQTT never maps libmosquitto nor the OpenSSL it pulls in
 * (about 470 KiB of private dirty pages, issue 12).
 *
 * api/mqtt.c calls libmosquitto only through the sym_mosquitto_* pointers
 * below, after cd_mqtt_dlopen() succeeded.  Each pointer has the type of
 * the <mosquitto.h> prototype, so a signature change fails the build.
 */
#pragma once

#include <mosquitto.h>

/* The SONAME of Debian's libmosquitto1. */
#define CD_MQTT_LIBMOSQUITTO "libmosquitto.so.1"

#define CD_MQTT_DLSYM(name) extern __typeof__(name) *sym_##name

CD_MQTT_DLSYM(mosquitto_connack_string);
CD_MQTT_DLSYM(mosquitto_connect_async);
CD_MQTT_DLSYM(mosquitto_connect_callback_set);
CD_MQTT_DLSYM(mosquitto_destroy);
CD_MQTT_DLSYM(mosquitto_disconnect);
CD_MQTT_DLSYM(mosquitto_disconnect_callback_set);
CD_MQTT_DLSYM(mosquitto_int_option);
CD_MQTT_DLSYM(mosquitto_lib_init);
CD_MQTT_DLSYM(mosquitto_loop_misc);
CD_MQTT_DLSYM(mosquitto_loop_read);
CD_MQTT_DLSYM(mosquitto_loop_write);
CD_MQTT_DLSYM(mosquitto_message_callback_set);
CD_MQTT_DLSYM(mosquitto_new);
CD_MQTT_DLSYM(mosquitto_publish);
CD_MQTT_DLSYM(mosquitto_publish_callback_set);
CD_MQTT_DLSYM(mosquitto_reinitialise);
CD_MQTT_DLSYM(mosquitto_socket);
CD_MQTT_DLSYM(mosquitto_strerror);
CD_MQTT_DLSYM(mosquitto_subscribe);
CD_MQTT_DLSYM(mosquitto_tls_set);
CD_MQTT_DLSYM(mosquitto_username_pw_set);
CD_MQTT_DLSYM(mosquitto_want_write);
CD_MQTT_DLSYM(mosquitto_will_set);

/*
 * dlopen()s libmosquitto (RTLD_NOW | RTLD_NODELETE: never unloaded),
 * resolves every sym_mosquitto_* and runs mosquitto_lib_init(), once.
 * Idempotent: later calls return 0 at once.  Returns 0, or a negative
 * errno after logging which library or symbol is missing and what to
 * install.
 */
int cd_mqtt_dlopen(void);
