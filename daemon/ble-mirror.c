/* SPDX-License-Identifier: MIT */
/*
 * The bluetoothd side of ble.c: the system bus connection (and its retry),
 * bluetoothd coming and going (NameOwnerChanged), and the mirror of its
 * objects (struct object) loaded by GetManagedObjects and kept by
 * InterfacesAdded/Removed and PropertiesChanged.  The lookups reconcile()
 * makes in it (find_device, find_hrs_char, choose_adapter) are pure and
 * live with it in ble-reconcile.c.  Every change ends in reconcile() (ble.c).
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>

#include "ble-internal.h"
#include "bus-dict.h"
#include "cleanup.h"
#include "log.h"

/* When the system bus itself goes away. */
#define BUS_RETRY_US (5 * USEC_PER_SEC)

/* "AA:BB:…" or "ble-aa:bb:…" → "aa:bb:…"; false when it is no address. */
bool normalise_address(const char *s, char out[static 18])
{
	if (!s)
		return false;
	if (strncasecmp(s, "ble-", 4) == 0)
		s += 4;
	if (strlen(s) != 17)
		return false;
	for (size_t i = 0; i < 17; i++) {
		if (i % 3 == 2 ? s[i] != ':' : !isxdigit((unsigned char)s[i]))
			return false;
		out[i] = (char)tolower((unsigned char)s[i]);
	}
	out[17] = '\0';
	return true;
}

/* The mirror. */

/* find_object() for the mirror's owner, who may change what it finds. */
struct object *object_find(struct ble *b, const char *path)
{
	return (struct object *)find_object(b->objects, path);
}

static struct object *object_get(struct ble *b, const char *path)
{
	struct object *o = object_find(b, path);

	if (o)
		return o;
	o = calloc(1, sizeof(*o));
	if (!o)
		return NULL;
	o->path = strdup(path);
	if (!o->path) {
		free(o);
		return NULL;
	}
	o->battery = -1;
	o->next = b->objects;
	b->objects = o;
	return o;
}

void objects_clear(struct ble *b)
{
	while (b->objects) {
		struct object *o = b->objects;

		b->objects = o->next;
		object_free(o);
	}
}

static unsigned iface_bit(const char *iface)
{
	if (strcmp(iface, IFACE_ADAPTER) == 0)
		return IF_ADAPTER;
	if (strcmp(iface, IFACE_DEVICE) == 0)
		return IF_DEVICE;
	if (strcmp(iface, IFACE_BATTERY) == 0)
		return IF_BATTERY;
	if (strcmp(iface, IFACE_SERVICE) == 0)
		return IF_SERVICE;
	if (strcmp(iface, IFACE_CHAR) == 0)
		return IF_CHAR;
	return 0;
}

/* Returns 1 when the variant had the wanted type and was read, 0 when skipped. */
static int read_variant(sd_bus_message *m, const char *sig, void *ret)
{
	const char *contents;
	char type;
	int r;

	r = sd_bus_message_peek_type(m, &type, &contents);
	if (r < 0)
		return r;
	if (type != 'v' || strcmp(contents, sig) != 0) {
		r = sd_bus_message_skip(m, "v");
		return r < 0 ? r : 0;
	}
	r = sd_bus_message_enter_container(m, 'v', sig);
	if (r < 0)
		return r;
	r = sd_bus_message_read_basic(m, sig[0], ret);
	if (r < 0)
		return r;
	r = sd_bus_message_exit_container(m);
	return r < 0 ? r : 1;
}

static int read_variant_bool(sd_bus_message *m, bool *ret)
{
	int v, r;

	r = read_variant(m, "b", &v);
	if (r > 0)
		*ret = v;
	return r;
}

static int read_variant_str(sd_bus_message *m, const char *sig, char **ret)
{
	const char *s;
	int r;

	r = read_variant(m, sig, &s);
	if (r > 0 && set_str(ret, s) < 0)
		return -ENOMEM;
	return r;
}

/* Device1.UUIDs: remember only whether 0x180D is among them. */
static int read_variant_has_hrs(sd_bus_message *m, bool *ret)
{
	const char *contents, *s;
	bool found = false;
	char type;
	int r;

	r = sd_bus_message_peek_type(m, &type, &contents);
	if (r < 0)
		return r;
	if (type != 'v' || strcmp(contents, "as") != 0)
		return sd_bus_message_skip(m, "v");
	r = sd_bus_message_enter_container(m, 'v', "as");
	if (r < 0)
		return r;
	r = sd_bus_message_enter_container(m, 'a', "s");
	if (r < 0)
		return r;
	while ((r = sd_bus_message_read_basic(m, 's', &s)) > 0)
		if (strcasecmp(s, UUID_HRS) == 0)
			found = true;
	if (r < 0)
		return r;
	r = sd_bus_message_exit_container(m);
	if (r >= 0)
		r = sd_bus_message_exit_container(m);
	if (r < 0)
		return r;
	*ret = found;
	return 1;
}


/*
 * One property of one interface of o; m is at the variant.  from_signal:
 * a PropertiesChanged, where a characteristic's Value is a notification
 * (in GetManagedObjects it is only the cached last value, §2.7 #3).
 */
static int apply_property(struct ble *b, struct object *o, unsigned bit, const char *key,
			  sd_bus_message *m, bool from_signal)
{
	const char *s;
	uint8_t y;
	int r;

	switch (bit) {
	case IF_ADAPTER:
		if (strcmp(key, "Powered") == 0)
			return read_variant_bool(m, &o->powered);
		break;
	case IF_DEVICE:
		if (strcmp(key, "Address") == 0) {
			r = read_variant(m, "s", &s);
			if (r > 0 && !normalise_address(s, o->address))
				o->address[0] = '\0';
			return r;
		}
		if (strcmp(key, "Alias") == 0)
			return read_variant_str(m, "s", &o->alias);
		if (strcmp(key, "Name") == 0)
			return read_variant_str(m, "s", &o->name);
		if (strcmp(key, "Adapter") == 0)
			return read_variant_str(m, "o", &o->adapter);
		if (strcmp(key, "Connected") == 0)
			return read_variant_bool(m, &o->connected);
		if (strcmp(key, "ServicesResolved") == 0)
			return read_variant_bool(m, &o->resolved);
		if (strcmp(key, "UUIDs") == 0)
			return read_variant_has_hrs(m, &o->hrs);
		break;
	case IF_BATTERY:
		if (strcmp(key, "Percentage") == 0) {
			r = read_variant(m, "y", &y);
			if (r > 0)
				o->battery = y <= 100 ? y : -1; /* §5.2 C6: 101+ reserved */
			return r;
		}
		break;
	case IF_SERVICE:
		if (strcmp(key, "UUID") == 0)
			return read_variant_str(m, "s", &o->uuid);
		if (strcmp(key, "Device") == 0)
			return read_variant_str(m, "o", &o->parent);
		break;
	case IF_CHAR:
		if (strcmp(key, "UUID") == 0)
			return read_variant_str(m, "s", &o->uuid);
		if (strcmp(key, "Service") == 0)
			return read_variant_str(m, "o", &o->parent);
		if (strcmp(key, "Value") == 0 && from_signal) {
			const void *p;
			size_t n;

			if (sd_bus_message_verify_type(m, 'v', "ay") <= 0)
				break;
			r = sd_bus_message_enter_container(m, 'v', "ay");
			if (r < 0)
				return r;
			r = sd_bus_message_read_array(m, 'y', &p, &n);
			if (r < 0)
				return r;
			r = sd_bus_message_exit_container(m);
			if (r < 0)
				return r;
			for (struct ble_strap *st = b->core.straps; st; st = st->next)
				if ((st->notify == NOTIFY_SIGNAL ||
				     (st->notify == NOTIFY_PENDING && st->acquire_refused)) &&
				    str_eq(st->chr_path, o->path))
					strap_value(strap_of(st), p, n);
			return 1;
		}
		break;
	}
	return sd_bus_message_skip(m, "v");
}

struct property_walk {
	struct ble *b;
	struct object *o;
	unsigned bit;
	bool from_signal;
};

static int walk_property(sd_bus_message *m, const char *key, void *userdata)
{
	struct property_walk *w = userdata;

	return apply_property(w->b, w->o, w->bit, key, m, w->from_signal);
}

/* m is at an a{sv} of interface bit (0: skipped). */
int apply_properties(struct ble *b, struct object *o, unsigned bit, sd_bus_message *m,
		     bool from_signal)
{
	if (!bit || !o)
		return sd_bus_message_skip(m, "a{sv}");
	return cd_bus_read_dict(m, walk_property,
				&(struct property_walk){ b, o, bit, from_signal });
}

struct interface_walk {
	struct ble *b;
	const char *path;
};

static int walk_interface(sd_bus_message *m, const char *iface, void *userdata)
{
	struct interface_walk *w = userdata;
	unsigned bit = iface_bit(iface);
	struct object *o = NULL;

	if (bit) {
		o = object_get(w->b, w->path);
		if (!o)
			return -ENOMEM;
		o->ifaces |= bit;
	}
	return apply_properties(w->b, o, bit, m, false);
}

/* m is at the a{sa{sv}} of one object. */
static int apply_interfaces(struct ble *b, const char *path, sd_bus_message *m)
{
	return cd_bus_read_dict_of(m, "a{sv}", walk_interface,
				   &(struct interface_walk){ b, path });
}

static int on_managed_objects(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error)
{
	struct ble *b = userdata;
	const sd_bus_error *e = sd_bus_message_get_error(reply);
	const char *path;
	int r;

	b->gmo_slot = sd_bus_slot_unref(b->gmo_slot);
	if (e) {
		if (!b->absent_logged)
			log_notice("BLE: bluetoothd (org.bluez) is not available on the system bus "
				   "(%s); BLE straps will be used once it starts.",
				   e->message ? e->message : e->name);
		b->absent_logged = true;
		b->owner = (free(b->owner), NULL);
		return 0;
	}
	/* The reply's sender is bluetoothd's unique name: signals are checked against it. */
	if (set_str(&b->owner, sd_bus_message_get_sender(reply)) < 0)
		return log_oom();
	objects_clear(b);
	r = sd_bus_message_enter_container(reply, 'a', "{oa{sa{sv}}}");
	while (r >= 0 && (r = sd_bus_message_enter_container(reply, 'e', "oa{sa{sv}}")) > 0) {
		r = sd_bus_message_read_basic(reply, 'o', &path);
		if (r >= 0)
			r = apply_interfaces(b, path, reply);
		if (r >= 0)
			r = sd_bus_message_exit_container(reply);
	}
	if (r < 0) {
		log_warning_errno(r, "BLE: cannot parse GetManagedObjects: %m; waiting for "
				     "bluetoothd to restart.");
		bluez_drop(b);
		return 0;
	}
	b->absent_logged = false;
	b->synced = true;
	log_info("BLE: following bluetoothd (%s).", b->owner);
	reconcile(b);
	return 0;
}

static int bluez_sync(struct ble *b)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
	int r;

	b->gmo_slot = sd_bus_slot_unref(b->gmo_slot);
	r = sd_bus_message_new_method_call(
		b->bus, &m, BLUEZ, "/", "org.freedesktop.DBus.ObjectManager", "GetManagedObjects");
	if (r < 0)
		return r;
	/* Do not start bluetoothd by bus activation: the user decides whether it runs. */
	r = sd_bus_message_set_auto_start(m, false);
	if (r < 0)
		return r;
	return sd_bus_call_async(b->bus, &b->gmo_slot, m, on_managed_objects, b, 0);
}

static bool from_bluez(struct ble *b, sd_bus_message *m)
{
	return b->owner && b->synced && str_eq(sd_bus_message_get_sender(m), b->owner);
}

static int on_interfaces_added(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct ble *b = userdata;
	const char *path;
	int r;

	if (!from_bluez(b, m))
		return 0;
	r = sd_bus_message_read_basic(m, 'o', &path);
	if (r >= 0)
		r = apply_interfaces(b, path, m);
	if (r < 0)
		log_debug_errno(r, "BLE: cannot parse InterfacesAdded: %m, ignoring");
	reconcile(b);
	return 0;
}

static void object_clear_iface(struct object *o, unsigned bit)
{
	o->ifaces &= ~bit;
	switch (bit) {
	case IF_ADAPTER:
		o->powered = false;
		break;
	case IF_DEVICE:
		o->address[0] = '\0';
		o->alias = (free(o->alias), NULL);
		o->name = (free(o->name), NULL);
		o->adapter = (free(o->adapter), NULL);
		o->connected = o->resolved = o->hrs = false;
		break;
	case IF_BATTERY:
		o->battery = -1;
		break;
	case IF_SERVICE:
	case IF_CHAR:
		o->uuid = (free(o->uuid), NULL);
		o->parent = (free(o->parent), NULL);
		break;
	}
}

static int on_interfaces_removed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct ble *b = userdata;
	struct object *o;
	const char *path, *iface;
	int r;

	if (!from_bluez(b, m))
		return 0;
	r = sd_bus_message_read_basic(m, 'o', &path);
	if (r < 0)
		return 0;
	o = object_find(b, path);
	if (!o)
		return 0;
	r = sd_bus_message_enter_container(m, 'a', "s");
	while (r >= 0 && (r = sd_bus_message_read_basic(m, 's', &iface)) > 0)
		object_clear_iface(o, iface_bit(iface));
	if (o->ifaces == 0) {
		for (struct object **p = &b->objects; *p; p = &(*p)->next)
			if (*p == o) {
				*p = o->next;
				break;
			}
		object_free(o);
	}
	reconcile(b);
	return 0;
}

static int on_properties_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct ble *b = userdata;
	struct object *o;
	const char *iface, *key;
	unsigned bit;
	int r;

	if (!from_bluez(b, m))
		return 0;
	r = sd_bus_message_read_basic(m, 's', &iface);
	if (r < 0)
		return 0;
	bit = iface_bit(iface);
	o = bit ? object_find(b, sd_bus_message_get_path(m)) : NULL;
	if (!o || !(o->ifaces & bit))
		return 0;
	r = apply_properties(b, o, bit, m, true);
	if (r < 0) {
		log_debug_errno(r, "BLE: cannot parse PropertiesChanged: %m, ignoring");
		return 0;
	}
	/* Invalidated properties are unknown now. */
	r = sd_bus_message_enter_container(m, 'a', "s");
	while (r > 0 && (r = sd_bus_message_read_basic(m, 's', &key)) > 0) {
		if (bit == IF_BATTERY && strcmp(key, "Percentage") == 0)
			o->battery = -1;
		else if (bit == IF_DEVICE && strcmp(key, "UUIDs") == 0)
			o->hrs = false;
	}
	/* A Value alone (a notification) changes nothing reconcile() looks at. */
	if (bit != IF_CHAR)
		reconcile(b);
	return 0;
}

static int on_name_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct ble *b = userdata;
	const char *name, *old_owner, *new_owner;
	int r;

	r = sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner);
	if (r < 0 || strcmp(name, BLUEZ) != 0)
		return 0;
	if (*old_owner || b->owner) {
		log_notice(
			"BLE: bluetoothd left the bus; dropping its objects and waiting for it.");
		bluez_drop(b);
	}
	if (*new_owner) {
		log_info("BLE: bluetoothd is on the bus (%s); starting over.", new_owner);
		b->absent_logged = false;
		r = bluez_sync(b);
		if (r < 0)
			log_warning_errno(r, "BLE: cannot call GetManagedObjects: %m");
	}
	return 0;
}

/* The system bus. */

/*
 * §2.6 step 1: matches before GetManagedObjects.  The async AddMatch calls
 * are sent first on the same connection, so the bus has them before it
 * routes the GetManagedObjects call.  No sender in the matches (§2.8:
 * local matching of a well-known sender across a restart is unverified);
 * every handler compares the sender with the unique name that answered
 * GetManagedObjects.
 */
static const struct {
	const char *rule;
	sd_bus_message_handler_t handler;
} bluez_matches[_MATCH_MAX] = {
	[MATCH_OWNER] = {"type='signal',sender='org.freedesktop.DBus',path='/org/freedesktop/DBus',"
			 "interface='org.freedesktop.DBus',member='NameOwnerChanged',"
			 "arg0='" BLUEZ "'",
			 on_name_owner_changed},
	[MATCH_ADDED] = {"type='signal',path='/',interface='org.freedesktop.DBus.ObjectManager',"
			 "member='InterfacesAdded'",
			 on_interfaces_added},
	[MATCH_REMOVED] = {"type='signal',path='/',interface='org.freedesktop.DBus.ObjectManager',"
			   "member='InterfacesRemoved'",
			   on_interfaces_removed},
	[MATCH_PROPS] = {"type='signal',path_namespace='/org/bluez',"
			 "interface='org.freedesktop.DBus.Properties',member='PropertiesChanged'",
			 on_properties_changed},
};

static int on_bus_retry(sd_event_source *source, uint64_t usec, void *userdata)
{
	struct ble *b = userdata;
	int r;

	r = bus_open(b);
	if (r < 0) {
		(void)sd_event_source_set_time_relative(source, BUS_RETRY_US);
		(void)sd_event_source_set_enabled(source, SD_EVENT_ONESHOT);
	}
	return 0;
}

static int on_bus_disconnected(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct ble *b = userdata;
	int r;

	log_warning("BLE: lost the system bus; retrying every %llu s.",
		    (unsigned long long)(BUS_RETRY_US / USEC_PER_SEC));
	bus_close(b);
	if (b->bus_retry) {
		(void)sd_event_source_set_time_relative(b->bus_retry, BUS_RETRY_US);
		(void)sd_event_source_set_enabled(b->bus_retry, SD_EVENT_ONESHOT);
		return 0;
	}
	r = sd_event_add_time_relative(b->event, &b->bus_retry, CLOCK_MONOTONIC, BUS_RETRY_US, 0,
				       on_bus_retry, b);
	if (r < 0)
		log_warning_errno(r, "BLE: cannot add the bus retry timer: %m; BLE is off.");
	else
		(void)sd_event_source_set_description(b->bus_retry, "ble-bus-retry");
	return 0;
}

/* The matches and the connection (the mirror is bluez_drop()'s). */
static void bus_release(struct ble *b)
{
	for (size_t i = 0; i < ELEMENTSOF(b->matches); i++)
		b->matches[i] = sd_bus_slot_unref(b->matches[i]);
	b->match_local = sd_bus_slot_unref(b->match_local);
	if (b->bus) {
		(void)sd_bus_detach_event(b->bus);
		b->bus = sd_bus_flush_close_unref(b->bus);
	}
}

void bus_close(struct ble *b)
{
	bluez_drop(b);
	bus_release(b);
}

int bus_open(struct ble *b)
{
	int r;

	r = sd_bus_open_system(&b->bus);
	if (r < 0)
		return r;
	(void)sd_bus_set_description(b->bus, "bluez");
	/* ble_free() still talks to bluetoothd after the loop has ended, then closes it. */
	(void)sd_bus_set_close_on_exit(b->bus, false);
	r = sd_bus_attach_event(b->bus, b->event, SD_EVENT_PRIORITY_NORMAL);
	if (r < 0)
		goto fail;

	r = sd_bus_match_signal(b->bus, &b->match_local, "org.freedesktop.DBus.Local", NULL,
				"org.freedesktop.DBus.Local", "Disconnected", on_bus_disconnected,
				b);
	for (size_t i = 0; r >= 0 && i < ELEMENTSOF(bluez_matches); i++)
		r = sd_bus_add_match_async(b->bus, &b->matches[i], bluez_matches[i].rule,
					   bluez_matches[i].handler, NULL, b);
	if (r >= 0)
		r = bluez_sync(b);
	if (r >= 0)
		return 0;
fail:
	bus_release(b);
	return r;
}
