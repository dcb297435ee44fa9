/* SPDX-License-Identifier: MIT */
/*
 * api/dbus.c against fake operations, as test-http-server.c does for
 * HTTP: a private dbus-daemon (its session configuration, on a socket in
 * a mkdtemp directory), the service on a real sd-event loop in this
 * process with a fake contract (a table of straps we control, a session
 * object shaped like DESIGN §4, this week, start and stop that record
 * their caller), events published on a cd_events hub of our own, and a
 * second sd-bus connection on the same loop as the client.  The client
 * only ever calls asynchronously: the service looks its callers up on
 * the bus while it runs, so a blocking client would stall both.
 *
 * Synchronisation: settle() runs the loop until nothing is pending (the
 * deferred PropertiesChanged is out), then pings the service and waits
 * for the answer.  The bus keeps one sender's messages in order, so every
 * signal sent before that answer has been recorded when it arrives.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "cleanup-json.h"
#include "cleanup.h"
#include "dbus.h"
#include "events.h"
#include "front.h"
#include "log.h"

#define PROPERTIES_INTERFACE "org.freedesktop.DBus.Properties"
#define OBJECT_MANAGER_INTERFACE "org.freedesktop.DBus.ObjectManager"
#define ERROR_INVALID_ARGS "org.freedesktop.DBus.Error.InvalidArgs"

/* The straps of the fake: ids that need the path escaping, and one that does not. */
#define ID_H10 "ble:AA:BB:CC:DD:EE:01"
#define PATH_H10 CD_DBUS_DEVICE_PATH_PREFIX "ble_AA_BB_CC_DD_EE_01"
#define ID_ANT "ant-4242"
#define PATH_ANT CD_DBUS_DEVICE_PATH_PREFIX "ant_4242"
#define ID_SIM "sim-1"
#define PATH_SIM CD_DBUS_DEVICE_PATH_PREFIX "sim_1"

/* 2024-05-01T10:20:30.123Z and 2024-05-01T11:02:10.500Z */
#define STARTED_AT_US UINT64_C(1714558830123000)
#define ENDED_AT_US UINT64_C(1714561330500000)

/* ---- the fake daemon behind the contract ---- */

struct strap {
	const char *id, *name, *transport;
	bool connected, stale;
	int battery_pct;
	uint64_t last_valid_us;
	double bpm;
	int zone;
	uint64_t session_id;
	double active_s, mvpa_s, ecb_s;
};

struct who {
	bool set;
	char via[16];
	int64_t uid;
	bool may_manage;
};

struct fake {
	struct strap straps[3];
	unsigned n_straps; /* the contract knows the first n_straps */
	int primary;       /* index into straps; −1: none (-ENOENT) */
	struct cd_front_week week;
	unsigned week_calls, session_calls, start_calls, stop_calls;
	bool start_device_null;
	char start_device[80];
	bool stop_device_null;
	uint64_t stop_session;
	struct who start_who, stop_who;
};

static struct fake fake = {
	.straps = {
		{
			.id = ID_H10, .name = "Polar H10", .transport = "ble",
			.connected = true, .battery_pct = 87,
			.last_valid_us = UINT64_C(1714558830123456),
			.bpm = 131.6, .zone = 3,
			.session_id = 7, .active_s = 600.5, .mvpa_s = 300.25, .ecb_s = 150.125,
		},
		{
			/* Stale: its last heart rate must not show. */
			.id = ID_ANT, .name = ID_ANT, .transport = "ant",
			.connected = true, .stale = true, .battery_pct = -1,
			.last_valid_us = UINT64_C(1714558000000000),
			.bpm = 99, .zone = 2,
		},
		{
			/* Not known at start: its first event makes its object. */
			.id = ID_SIM, .name = "Simulated strap", .transport = "sim",
			.connected = true, .battery_pct = 100,
			.last_valid_us = UINT64_C(1714558900000000),
			.bpm = 88, .zone = 1,
		},
	},
	.n_straps = 2,
	.primary = 0,
	.week = { .today_min = 12.5, .week_min = 97.25, .goal_min = 150, .week_sessions = 4 },
};

static struct strap *strap(const char *id)
{
	for (unsigned i = 0; i < ELEMENTSOF(fake.straps); i++)
		if (strcmp(fake.straps[i].id, id) == 0)
			return &fake.straps[i];
	return NULL;
}

static void strap_to_device(const struct strap *s, struct cd_front_device *v)
{
	*v = (struct cd_front_device){
		.id = s->id,
		.name = s->name,
		.transport = s->transport,
		.connected = s->connected,
		.stale = s->stale,
		.battery_pct = s->battery_pct,
		.last_seen_us = s->last_valid_us,
		.last_valid_us = s->last_valid_us,
		.bpm = s->bpm,
		.zone = s->zone,
		.session_id = s->session_id,
		.active_s = s->active_s,
		.mvpa_s = s->mvpa_s,
		.ecb_s = s->ecb_s,
	};
}

static int fake_each_device(void *userdata, void (*fn)(const struct cd_front_device *d, void *ctx),
			    void *ctx)
{
	struct cd_front_device v;

	for (unsigned i = 0; i < fake.n_straps; i++) {
		strap_to_device(&fake.straps[i], &v);
		fn(&v, ctx);
	}
	return 0;
}

static int fake_device(void *userdata, const char *id, struct cd_front_device *ret)
{
	for (unsigned i = 0; i < fake.n_straps; i++)
		if (strcmp(fake.straps[i].id, id) == 0) {
			strap_to_device(&fake.straps[i], ret);
			return 0;
		}
	return -ENOENT;
}

static int fake_primary(void *userdata, struct cd_front_device *ret)
{
	if (fake.primary < 0 || (unsigned)fake.primary >= fake.n_straps)
		return -ENOENT;
	strap_to_device(&fake.straps[fake.primary], ret);
	return 0;
}

static int fake_week(void *userdata, struct cd_front_week *ret)
{
	fake.week_calls++;
	*ret = fake.week;
	return 0;
}

static const double zone_s[6] = { 10.5, 20.25, 300.5, 900.75, 600.125, 50 };

/* The session object of DESIGN §4 (the keys D-Bus reads); figures depend on id. */
static cJSON *session_json(uint64_t id)
{
	cJSON *o = cJSON_CreateObject(), *dev, *hr, *dose, *load, *hrv, *zones;

	cJSON_AddNumberToObject(o, "id", (double)id);
	cJSON_AddStringToObject(o, "state", "ended");
	cJSON_AddStringToObject(o, "kind", "aerobic");
	dev = cJSON_AddObjectToObject(o, "device");
	cJSON_AddStringToObject(dev, "id", ID_H10);
	cJSON_AddStringToObject(dev, "name", "Polar H10");
	cJSON_AddStringToObject(dev, "transport", "ble");
	cJSON_AddStringToObject(o, "started_at", "2024-05-01T10:20:30.123Z");
	cJSON_AddStringToObject(o, "ended_at", "2024-05-01T11:02:10.500Z");
	cJSON_AddNumberToObject(o, "duration_s", 2500.375);
	cJSON_AddNumberToObject(o, "active_s", 2400.25);
	cJSON_AddNumberToObject(o, "gap_s", 100.125);
	cJSON_AddNumberToObject(o, "samples", 9601);
	hr = cJSON_AddObjectToObject(o, "heart_rate");
	cJSON_AddNumberToObject(hr, "avg", 100.5 + (double)id);
	cJSON_AddNumberToObject(hr, "min", 62);
	cJSON_AddNumberToObject(hr, "max", 171);
	dose = cJSON_AddObjectToObject(o, "dose");
	cJSON_AddNumberToObject(dose, "mvpa_s", 1800.75);
	cJSON_AddNumberToObject(dose, "ecb_s", 900.5);
	load = cJSON_AddObjectToObject(o, "load");
	cJSON_AddNumberToObject(load, "trimp_edwards", 88.25);
	cJSON_AddNumberToObject(load, "trimp_banister", 64.125);
	hrv = cJSON_AddObjectToObject(o, "hrv");
	cJSON_AddNumberToObject(hrv, "rmssd_ms", 41.5);
	zones = cJSON_AddArrayToObject(o, "zones");
	for (int z = 0; z < 6; z++) {
		cJSON *e = cJSON_CreateObject();

		cJSON_AddNumberToObject(e, "zone", z);
		cJSON_AddNumberToObject(e, "s", zone_s[z]);
		cJSON_AddItemToArray(zones, e);
	}
	return o;
}

static bool session_known(uint64_t id)
{
	return id == 5 || id == 7 || id == 8 || id == 11 || id == 12;
}

static int fake_session(void *userdata, uint64_t id, cJSON **ret)
{
	fake.session_calls++;
	if (id == 0)
		id = 8; /* "the current one" */
	if (!session_known(id))
		return -ENOENT;
	*ret = session_json(id);
	return *ret ? 0 : -ENOMEM;
}

static void record_who(struct who *w, const struct cd_caller *who)
{
	*w = (struct who){ .set = true, .uid = -2 };
	if (!who)
		return;
	snprintf(w->via, sizeof(w->via), "%s", who->via ? who->via : "(null)");
	w->uid = who->uid;
	w->may_manage = who->may_manage;
}

static int fake_start(void *userdata, const struct cd_caller *who, const char *device,
		      const char *kind, cJSON **ret)
{
	fake.start_calls++;
	record_who(&fake.start_who, who);
	fake.start_device_null = !device;
	snprintf(fake.start_device, sizeof(fake.start_device), "%s", device ? device : "");
	if (device && strcmp(device, "nope") == 0)
		return -ENOENT;
	*ret = session_json(device ? 12 : 11);
	return *ret ? 0 : -ENOMEM;
}

static int fake_stop(void *userdata, const struct cd_caller *who, const char *device,
		     uint64_t session, cJSON **ret)
{
	fake.stop_calls++;
	record_who(&fake.stop_who, who);
	fake.stop_device_null = !device;
	fake.stop_session = session;
	if (session == 0)
		return CD_FRONT_ENOTACTIVE; /* nothing is active */
	if (session != 5)
		return -ENOENT;
	if (ret) /* the daemon's stop accepts NULL: the caller does not want the object */
		*ret = session_json(5);
	return 0;
}

static const struct cd_front_ops fake_ops = {
	.session = fake_session,
	.each_device = fake_each_device,
	.device = fake_device,
	.primary = fake_primary,
	.week = fake_week,
	.start = fake_start,
	.stop = fake_stop,
};

/* ---- the private bus ---- */

static pid_t bus_pid = -1;
static char bus_dir[64];
static char bus_address[512];

static int start_bus(void)
{
	struct pollfd pfd = { .events = POLLIN };
	char address_arg[128];
	pid_t parent = getpid();
	FILE *f;
	int p[2];

	snprintf(bus_dir, sizeof(bus_dir), "/tmp/cd-test-dbus-XXXXXX");
	if (!mkdtemp(bus_dir))
		return -errno;
	snprintf(address_arg, sizeof(address_arg), "--address=unix:dir=%s", bus_dir);
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	bus_pid = fork();
	if (bus_pid < 0)
		return -errno;
	if (bus_pid == 0) {
		/* Should the test crash, the bus goes too (and frees meson's pipe). */
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent ||
		    dup2(p[1], STDOUT_FILENO) < 0)
			_exit(127);
		execlp("dbus-daemon", "dbus-daemon", "--session", "--nofork", "--nopidfile",
		       "--print-address=1", address_arg, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	pfd.fd = p[0];
	f = fdopen(p[0], "r");
	if (!f || poll(&pfd, 1, 10000) <= 0 || !fgets(bus_address, sizeof(bus_address), f) ||
	    !strchr(bus_address, '\n')) {
		fprintf(stderr, "dbus-daemon did not print its address\n");
		if (f)
			fclose(f);
		else
			close(p[0]);
		return -EIO;
	}
	fclose(f);
	*strchr(bus_address, '\n') = '\0';
	return 0;
}

static void stop_bus(void)
{
	DIR *dir;
	struct dirent *de;

	if (bus_pid > 0) {
		kill(bus_pid, SIGTERM);
		waitpid(bus_pid, NULL, 0);
	}
	dir = opendir(bus_dir);
	if (dir) {
		while ((de = readdir(dir)))
			if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
				unlinkat(dirfd(dir), de->d_name, 0);
		closedir(dir);
	}
	rmdir(bus_dir);
}

/* ---- the client: one connection on the test's loop, every signal recorded ---- */

static sd_event *loop;
static sd_bus *client;
static struct cd_events *hub;

#define MAX_SIGNALS 512
static sd_bus_message *received[MAX_SIGNALS];
static size_t n_received;

static int on_signal(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	if (n_received < MAX_SIGNALS)
		received[n_received++] = sd_bus_message_ref(m);
	return 0;
}

static void clear_signals(void)
{
	for (size_t i = 0; i < n_received; i++)
		sd_bus_message_unref(received[i]);
	n_received = 0;
}

static bool str_eq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

/* The nth signal member (on path; NULL: any), rewound for reading; NULL when there is none. */
static sd_bus_message *signal_nth(const char *member, const char *path, size_t nth)
{
	for (size_t i = 0; i < n_received; i++) {
		sd_bus_message *m = received[i];

		if (!str_eq(sd_bus_message_get_member(m), member) ||
		    (path && !str_eq(sd_bus_message_get_path(m), path)))
			continue;
		if (nth-- > 0)
			continue;
		sd_bus_message_rewind(m, true);
		return m;
	}
	return NULL;
}

static size_t signal_count(const char *member, const char *path)
{
	size_t n = 0;

	while (signal_nth(member, path, n))
		n++;
	return n;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static bool run_until(bool (*done)(void *arg), void *arg, unsigned timeout_ms)
{
	uint64_t deadline = now_ms() + timeout_ms;

	while (!done(arg)) {
		if (now_ms() > deadline)
			return false;
		if (sd_event_run(loop, 50 * 1000) < 0)
			return false;
	}
	return true;
}

/* Run what is ready now: the events' deferred PropertiesChanged included. */
static void drain(void)
{
	for (int i = 0; i < 100000 && sd_event_run(loop, 0) > 0; i++)
		;
}

static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *error)
{
	*(sd_bus_message **)userdata = sd_bus_message_ref(m);
	return 0;
}

static bool have_reply(void *arg)
{
	return *(sd_bus_message **)arg != NULL;
}

/* A method call to the service, answered while the loop runs: the reply (unref it), or NULL. */
static sd_bus_message *vcall(const char *path, const char *interface, const char *member,
			     const char *types, va_list ap)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
	sd_bus_message *reply = NULL;
	int r;

	r = sd_bus_message_new_method_call(client, &m, CD_DBUS_NAME, path, interface, member);
	if (r >= 0 && types)
		r = sd_bus_message_appendv(m, types, ap);
	/* The call times out (an error reply) before run_until gives up: reply is always set. */
	if (r >= 0)
		r = sd_bus_call_async(client, NULL, m, on_reply, &reply, 10 * 1000000ULL);
	if (r < 0) {
		fprintf(stderr, "cannot call %s: %s\n", member, strerror(-r));
		return NULL;
	}
	if (!run_until(have_reply, &reply, 20000))
		fprintf(stderr, "no reply to %s\n", member);
	return reply;
}

static sd_bus_message *call(const char *path, const char *interface, const char *member,
			    const char *types, ...)
{
	sd_bus_message *reply;
	va_list ap;

	va_start(ap, types);
	reply = vcall(path, interface, member, types, ap);
	va_end(ap);
	return reply;
}

/* The error name of a reply, "" for a method return, "(no reply)" without one. */
static const char *error_name(sd_bus_message *reply)
{
	const sd_bus_error *e;

	if (!reply)
		return "(no reply)";
	e = sd_bus_message_get_error(reply);
	return e && e->name ? e->name : "";
}

/* A root method that must fail with error. */
static void expect_error(const char *error, const char *member, const char *types, ...)
{
	sd_bus_message *reply;
	va_list ap;

	va_start(ap, types);
	reply = vcall(CD_DBUS_PATH, CD_DBUS_INTERFACE, member, types, ap);
	va_end(ap);
	CHECK_STR(error_name(reply), error);
	sd_bus_message_unref(reply);
}

/* Everything the service sent before now has been recorded (see the top). */
static void settle(void)
{
	sd_bus_message *reply;

	drain();
	reply = call(CD_DBUS_PATH, "org.freedesktop.DBus.Peer", "Ping", NULL);
	CHECK_STR(error_name(reply), "");
	sd_bus_message_unref(reply);
	drain();
}

/* ---- reading a{sv} dictionaries ---- */

struct prop {
	char name[40];
	char type[8];
	uint64_t u; /* b y q u t */
	double d;
	char s[128];
	double ad[8];
	size_t n_ad;
};

struct props {
	struct prop p[40];
	size_t n;
};

static int read_props(sd_bus_message *m, struct props *ret)
{
	int r;

	ret->n = 0;
	r = sd_bus_message_enter_container(m, 'a', "{sv}");
	if (r < 0)
		return r;
	while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
		struct prop *p = &ret->p[ret->n < ELEMENTSOF(ret->p) ? ret->n++ : ret->n - 1];
		const char *name, *contents;
		const void *ptr;
		size_t size;
		char type, c;
		union {
			int b;
			uint8_t y;
			uint16_t q;
			uint32_t u;
			uint64_t t;
			double d;
			const char *s;
		} v;

		*p = (struct prop){ .d = NAN };
		if ((r = sd_bus_message_read_basic(m, 's', &name)) < 0 ||
		    (r = sd_bus_message_peek_type(m, &type, &contents)) < 0)
			return r;
		snprintf(p->name, sizeof(p->name), "%s", name);
		snprintf(p->type, sizeof(p->type), "%s", contents);
		if ((r = sd_bus_message_enter_container(m, 'v', contents)) < 0)
			return r;
		if (strcmp(contents, "ad") == 0) {
			r = sd_bus_message_read_array(m, 'd', &ptr, &size);
			p->n_ad = r < 0 ? 0 : size / sizeof(double);
			if (p->n_ad > ELEMENTSOF(p->ad))
				p->n_ad = ELEMENTSOF(p->ad);
			if (p->n_ad)
				memcpy(p->ad, ptr, p->n_ad * sizeof(double));
		} else if (strlen(contents) == 1 && strchr("sobyqutd", contents[0]))
			r = sd_bus_message_read_basic(m, contents[0], &v);
		else
			r = sd_bus_message_skip(m, contents);
		if (r < 0)
			return r;
		c = strlen(contents) == 1 ? contents[0] : 0;
		p->u = c == 'b' ? (uint64_t)v.b : c == 'y' ? v.y : c == 'q' ? v.q : c == 'u' ? v.u
		       : c == 't' ? v.t : 0;
		if (c == 'd')
			p->d = v.d;
		if (c == 's' || c == 'o')
			snprintf(p->s, sizeof(p->s), "%s", v.s);
		if ((r = sd_bus_message_exit_container(m)) < 0 ||
		    (r = sd_bus_message_exit_container(m)) < 0)
			return r;
	}
	if (r < 0)
		return r;
	return sd_bus_message_exit_container(m);
}

static const struct prop *prop(const struct props *ps, const char *name)
{
	for (size_t i = 0; i < ps->n; i++)
		if (strcmp(ps->p[i].name, name) == 0)
			return &ps->p[i];
	return NULL;
}

/* UINT64_MAX, NAN, NULL, "" when the property is not there. */
static uint64_t prop_u(const struct props *ps, const char *name)
{
	const struct prop *p = prop(ps, name);

	return p ? p->u : UINT64_MAX;
}

static double prop_d(const struct props *ps, const char *name)
{
	const struct prop *p = prop(ps, name);

	return p ? p->d : NAN;
}

static const char *prop_s(const struct props *ps, const char *name)
{
	const struct prop *p = prop(ps, name);

	return p ? p->s : NULL;
}

static const char *prop_type(const struct props *ps, const char *name)
{
	const struct prop *p = prop(ps, name);

	return p ? p->type : "";
}

/* Properties.GetAll: 0 and *ret, or -EIO (logged). */
static int get_all(const char *path, const char *interface, struct props *ret)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	int r;

	reply = call(path, PROPERTIES_INTERFACE, "GetAll", "s", interface);
	if (!reply || sd_bus_message_is_method_error(reply, NULL)) {
		fprintf(stderr, "GetAll %s on %s: %s\n", interface, path, error_name(reply));
		ret->n = 0;
		return -EIO;
	}
	r = read_props(reply, ret);
	if (r < 0)
		fprintf(stderr, "GetAll %s on %s: bad answer: %s\n", interface, path, strerror(-r));
	return r < 0 ? -EIO : 0;
}

/* The Device interface's dictionary in an a{sa{sv}} (InterfacesAdded, GetManagedObjects). */
static int read_interfaces(sd_bus_message *m, bool *ret_device, struct props *ret)
{
	const char *interface;
	int r;

	*ret_device = false;
	r = sd_bus_message_enter_container(m, 'a', "{sa{sv}}");
	if (r < 0)
		return r;
	while ((r = sd_bus_message_enter_container(m, 'e', "sa{sv}")) > 0) {
		if ((r = sd_bus_message_read_basic(m, 's', &interface)) < 0)
			return r;
		if (strcmp(interface, CD_DBUS_DEVICE_INTERFACE) == 0) {
			*ret_device = true;
			r = read_props(m, ret);
		} else
			r = sd_bus_message_skip(m, "a{sv}");
		if (r < 0 || (r = sd_bus_message_exit_container(m)) < 0)
			return r;
	}
	if (r < 0)
		return r;
	return sd_bus_message_exit_container(m);
}

struct object {
	char path[160];
	struct props props;
};

/*
 * ObjectManager.GetManagedObjects: the objects with the Device interface
 * into objs (at most max), their number; -1 on a failure (logged).
 */
static int managed_devices(struct object *objs, size_t max)
{
	_cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
	const char *path;
	size_t n = 0;
	int r;

	reply = call(CD_DBUS_PATH, OBJECT_MANAGER_INTERFACE, "GetManagedObjects", NULL);
	if (!reply || sd_bus_message_is_method_error(reply, NULL)) {
		fprintf(stderr, "GetManagedObjects: %s\n", error_name(reply));
		return -1;
	}
	r = sd_bus_message_enter_container(reply, 'a', "{oa{sa{sv}}}");
	while (r >= 0 && (r = sd_bus_message_enter_container(reply, 'e', "oa{sa{sv}}")) > 0) {
		struct object o;
		bool device;

		r = sd_bus_message_read_basic(reply, 'o', &path);
		if (r >= 0)
			r = read_interfaces(reply, &device, &o.props);
		if (r >= 0)
			r = sd_bus_message_exit_container(reply);
		if (r >= 0 && device && n < max) {
			snprintf(o.path, sizeof(o.path), "%s", path);
			objs[n++] = o;
		}
	}
	if (r < 0) {
		fprintf(stderr, "GetManagedObjects: bad answer: %s\n", strerror(-r));
		return -1;
	}
	return (int)n;
}

static const struct props *object_props(const struct object *objs, int n, const char *path)
{
	for (int i = 0; i < n; i++)
		if (strcmp(objs[i].path, path) == 0)
			return &objs[i].props;
	return NULL;
}

/*
 * The changed dictionary of the nth PropertiesChanged on path; false
 * without one, or when it is not for interface (logged).
 */
static bool changed_nth(const char *path, size_t nth, const char *interface, struct props *ret)
{
	sd_bus_message *m = signal_nth("PropertiesChanged", path, nth);
	const char *iface = NULL;

	ret->n = 0;
	if (!m)
		return false;
	if (sd_bus_message_read_basic(m, 's', &iface) < 0 || read_props(m, ret) < 0) {
		fprintf(stderr, "PropertiesChanged on %s: bad signal\n", path);
		return false;
	}
	if (strcmp(iface, interface) != 0) {
		fprintf(stderr, "PropertiesChanged on %s is for %s, not %s\n", path, iface, interface);
		return false;
	}
	return true;
}

/* ---- publishing what the daemon would ---- */

static void publish(const struct cd_event *ev)
{
	CHECK(cd_events_publish(hub, ev) > 0);
}

/* A valid sample of id: the table first (the contract answers from it), then the event. */
static void publish_hr(const char *id, double bpm, int zone, const double *rr, size_t n_rr)
{
	struct strap *s = strap(id);

	if (s) {
		s->bpm = bpm;
		s->zone = zone;
		s->last_valid_us += 250000;
	}
	publish(&(struct cd_event){
		.type = CD_EVENT_HR,
		.device = id,
		.session = s ? s->session_id : 0,
		.t_us = s ? s->last_valid_us : 1,
		.bpm = bpm,
		.zone = zone,
		.rr_ms = rr,
		.n_rr = n_rr,
	});
}

static void publish_device(const char *id)
{
	const struct strap *s = strap(id);

	publish(&(struct cd_event){
		.type = CD_EVENT_DEVICE,
		.device = id,
		.name = s->name,
		.transport = s->transport,
		.connected = s->connected,
		.stale = s->stale,
		.battery_pct = s->battery_pct,
	});
}

/* ---- the checks ---- */

static void check_h10(const struct props *ps, uint64_t hr, uint64_t zone)
{
	CHECK_STR(prop_s(ps, "Id"), ID_H10);
	CHECK_STR(prop_s(ps, "Name"), "Polar H10");
	CHECK_STR(prop_s(ps, "Transport"), "ble");
	CHECK_STR(prop_type(ps, "Connected"), "b");
	CHECK_INT(prop_u(ps, "Connected"), 1);
	CHECK_STR(prop_type(ps, "HeartRate"), "q");
	CHECK_INT(prop_u(ps, "HeartRate"), hr);
	CHECK_STR(prop_type(ps, "Zone"), "y");
	CHECK_INT(prop_u(ps, "Zone"), zone);
	CHECK_STR(prop_type(ps, "BatteryPercentage"), "y");
	CHECK_INT(prop_u(ps, "BatteryPercentage"), 87);
	CHECK_STR(prop_type(ps, "LastUpdate"), "t");
	CHECK_INT(prop_u(ps, "LastUpdate"), fake.straps[0].last_valid_us);
	CHECK_STR(prop_type(ps, "SessionId"), "t");
	CHECK_INT(prop_u(ps, "SessionId"), 7);
}

/* Root and Device objects as a client finds them on arrival. */
static void test_objects(void)
{
	struct object objs[8];
	struct props root;
	const struct props *ps;
	int n = managed_devices(objs, ELEMENTSOF(objs));

	CHECK_INT(n, 2); /* one Device object per strap of each_device */
	if (n < 0)
		n = 0;
	ps = object_props(objs, n, PATH_H10);
	CHECK(ps != NULL);
	if (ps)
		check_h10(ps, 132 /* 131.6 rounded */, 3);

	/* Stale: connected, but its last value (99 bpm, zone 2) is not live. */
	ps = object_props(objs, n, PATH_ANT);
	CHECK(ps != NULL);
	if (ps) {
		CHECK_STR(prop_s(ps, "Id"), ID_ANT);
		CHECK_STR(prop_s(ps, "Name"), ID_ANT);
		CHECK_STR(prop_s(ps, "Transport"), "ant");
		CHECK_INT(prop_u(ps, "Connected"), 1);
		CHECK_INT(prop_u(ps, "HeartRate"), 0);
		CHECK_INT(prop_u(ps, "Zone"), 0);
		CHECK_INT(prop_u(ps, "BatteryPercentage"), 255); /* unknown */
		CHECK_INT(prop_u(ps, "LastUpdate"), UINT64_C(1714558000000000));
		CHECK_INT(prop_u(ps, "SessionId"), 0);
	}
	CHECK(object_props(objs, n, PATH_SIM) == NULL); /* not heard yet */

	/* The same through the object itself. */
	CHECK_INT(get_all(PATH_H10, CD_DBUS_DEVICE_INTERFACE, &root), 0);
	check_h10(&root, 132, 3);

	/* The root follows the primary strap, the week comes from ops.week. */
	CHECK(fake.week_calls >= 1);
	CHECK_INT(get_all(CD_DBUS_PATH, CD_DBUS_INTERFACE, &root), 0);
	CHECK_STR(prop_type(&root, "HeartRate"), "q");
	CHECK_INT(prop_u(&root, "HeartRate"), 132);
	CHECK_STR(prop_type(&root, "Zone"), "y");
	CHECK_INT(prop_u(&root, "Zone"), 3);
	CHECK_STR(prop_s(&root, "Device"), ID_H10);
	CHECK_STR(prop_type(&root, "SessionId"), "t");
	CHECK_INT(prop_u(&root, "SessionId"), 7);
	CHECK_STR(prop_s(&root, "SessionState"), "active");
	CHECK_NEAR(prop_d(&root, "ActiveSeconds"), 600.5, 1e-9);
	CHECK_NEAR(prop_d(&root, "MvpaSeconds"), 300.25, 1e-9);
	CHECK_NEAR(prop_d(&root, "EcbSeconds"), 150.125, 1e-9);
	CHECK_NEAR(prop_d(&root, "TodayIntensityMinutes"), 12.5, 1e-9);
	CHECK_NEAR(prop_d(&root, "WeekIntensityMinutes"), 97.25, 1e-9);
	CHECK_NEAR(prop_d(&root, "WeekGoalMinutes"), 150, 1e-9);
	CHECK_STR(prop_type(&root, "WeekSessions"), "u");
	CHECK_INT(prop_u(&root, "WeekSessions"), 4);
}

/* An HR event: the HeartRate signal at once, then one PropertiesChanged per object. */
static void test_heart_rate(void)
{
	static const double rr[] = { 428.5, 431.0 };
	struct props ps;
	sd_bus_message *m;

	clear_signals();
	publish_hr(ID_H10, 140.4, 4, rr, ELEMENTSOF(rr));
	settle();

	CHECK_INT(signal_count("HeartRate", CD_DBUS_PATH), 1);
	m = signal_nth("HeartRate", CD_DBUS_PATH, 0);
	if (m) {
		const char *device = NULL;
		uint16_t bpm = 0;
		uint8_t zone = 0;
		const void *ptr = NULL;
		size_t size = 0;

		CHECK_STR(sd_bus_message_get_interface(m), CD_DBUS_INTERFACE);
		CHECK(sd_bus_message_read(m, "sqy", &device, &bpm, &zone) > 0);
		CHECK(sd_bus_message_read_array(m, 'd', &ptr, &size) >= 0);
		CHECK_STR(device, ID_H10);
		CHECK_INT(bpm, 140);
		CHECK_INT(zone, 4);
		CHECK_INT(size, sizeof(rr));
		if (ptr && size == sizeof(rr)) {
			CHECK_NEAR(((const double *)ptr)[0], 428.5, 1e-9);
			CHECK_NEAR(((const double *)ptr)[1], 431.0, 1e-9);
		}
	}

	CHECK_INT(signal_count("PropertiesChanged", PATH_H10), 1);
	CHECK(changed_nth(PATH_H10, 0, CD_DBUS_DEVICE_INTERFACE, &ps));
	CHECK_INT(prop_u(&ps, "HeartRate"), 140);
	CHECK_INT(prop_u(&ps, "Zone"), 4);
	CHECK_INT(prop_u(&ps, "LastUpdate"), fake.straps[0].last_valid_us);
	CHECK(prop(&ps, "Connected") == NULL); /* only what changed */
	CHECK(prop(&ps, "SessionId") == NULL);

	CHECK_INT(signal_count("PropertiesChanged", CD_DBUS_PATH), 1);
	CHECK(changed_nth(CD_DBUS_PATH, 0, CD_DBUS_INTERFACE, &ps));
	CHECK_INT(prop_u(&ps, "HeartRate"), 140);
	CHECK_INT(prop_u(&ps, "Zone"), 4);
	CHECK(prop(&ps, "Device") == NULL);
	CHECK(prop(&ps, "SessionId") == NULL);

	CHECK_INT(signal_count("PropertiesChanged", PATH_ANT), 0); /* not its event */
}

/* A burst within one loop iteration: every HeartRate signal, one PropertiesChanged per object. */
static void test_coalescing(void)
{
	struct props ps;
	sd_bus_message *m;

	clear_signals();
	for (int i = 0; i < 5; i++)
		publish_hr(ID_H10, 141 + i, 4, NULL, 0);
	settle();

	CHECK_INT(signal_count("HeartRate", CD_DBUS_PATH), 5);
	for (size_t i = 0; i < 5; i++) {
		uint16_t bpm = 0;

		m = signal_nth("HeartRate", CD_DBUS_PATH, i);
		CHECK(m && sd_bus_message_read(m, "sq", NULL, &bpm) > 0);
		CHECK_INT(bpm, 141 + i); /* in order */
	}
	CHECK_INT(signal_count("PropertiesChanged", PATH_H10), 1);
	CHECK(changed_nth(PATH_H10, 0, CD_DBUS_DEVICE_INTERFACE, &ps));
	CHECK_INT(prop_u(&ps, "HeartRate"), 145); /* the last value */
	CHECK(prop(&ps, "Zone") == NULL);         /* 4 before and after the burst */
	CHECK_INT(signal_count("PropertiesChanged", CD_DBUS_PATH), 1);
	CHECK(changed_nth(CD_DBUS_PATH, 0, CD_DBUS_INTERFACE, &ps));
	CHECK_INT(prop_u(&ps, "HeartRate"), 145);
	CHECK_INT(signal_count("PropertiesChanged", NULL), 2);
}

static void test_zone(void)
{
	sd_bus_message *m;
	const char *device = NULL;
	uint8_t old = 0, new = 0;

	clear_signals();
	publish(&(struct cd_event){
		.type = CD_EVENT_ZONE, .device = ID_H10, .session = 7, .old_zone = 4, .new_zone = 5 });
	settle();
	CHECK_INT(signal_count("ZoneChanged", CD_DBUS_PATH), 1);
	m = signal_nth("ZoneChanged", CD_DBUS_PATH, 0);
	CHECK(m && sd_bus_message_read(m, "syy", &device, &old, &new) > 0);
	CHECK_STR(device, ID_H10);
	CHECK_INT(old, 4);
	CHECK_INT(new, 5);
}

static void test_sessions(void)
{
	struct strap *h10 = &fake.straps[0];
	struct props ps;
	sd_bus_message *m;
	const char *device = NULL;
	uint64_t id = 0;
	unsigned session_calls;
	const struct prop *z;

	/* Started: the strap's session is 8 from now on. */
	clear_signals();
	h10->session_id = 8;
	h10->active_s = h10->mvpa_s = h10->ecb_s = 0;
	publish(&(struct cd_event){
		.type = CD_EVENT_SESSION, .device = ID_H10, .session = 8, .active = true });
	settle();
	CHECK_INT(signal_count("SessionStarted", CD_DBUS_PATH), 1);
	m = signal_nth("SessionStarted", CD_DBUS_PATH, 0);
	CHECK(m && sd_bus_message_read(m, "ts", &id, &device) > 0);
	CHECK_INT(id, 8);
	CHECK_STR(device, ID_H10);
	CHECK_INT(signal_count("SessionEnded", NULL), 0);
	CHECK(changed_nth(CD_DBUS_PATH, 0, CD_DBUS_INTERFACE, &ps));
	CHECK_INT(prop_u(&ps, "SessionId"), 8);
	CHECK_NEAR(prop_d(&ps, "ActiveSeconds"), 0, 1e-9);
	CHECK(prop(&ps, "SessionState") == NULL); /* active before (7) and after (8) */
	CHECK(changed_nth(PATH_H10, 0, CD_DBUS_DEVICE_INTERFACE, &ps));
	CHECK_INT(prop_u(&ps, "SessionId"), 8);

	/* Ended: the summary is read from the contract's session object. */
	clear_signals();
	h10->session_id = 0;
	session_calls = fake.session_calls;
	publish(&(struct cd_event){
		.type = CD_EVENT_SESSION, .device = ID_H10, .session = 8, .active = false });
	settle();
	CHECK_INT(fake.session_calls, session_calls + 1);
	CHECK_INT(signal_count("SessionEnded", CD_DBUS_PATH), 1);
	CHECK_INT(signal_count("SessionStarted", NULL), 0);
	m = signal_nth("SessionEnded", CD_DBUS_PATH, 0);
	id = 0;
	CHECK(m && sd_bus_message_read(m, "t", &id) > 0);
	CHECK_INT(id, 8);
	ps.n = 0;
	CHECK(m && read_props(m, &ps) >= 0);
	CHECK_STR(prop_type(&ps, "id"), "t");
	CHECK_INT(prop_u(&ps, "id"), 8);
	CHECK_STR(prop_s(&ps, "device"), ID_H10);
	CHECK_STR(prop_s(&ps, "kind"), "aerobic");
	CHECK_STR(prop_s(&ps, "started_at"), "2024-05-01T10:20:30.123Z");
	CHECK_STR(prop_s(&ps, "ended_at"), "2024-05-01T11:02:10.500Z");
	CHECK_STR(prop_type(&ps, "started_at_us"), "t");
	CHECK_INT(prop_u(&ps, "started_at_us"), STARTED_AT_US);
	CHECK_INT(prop_u(&ps, "ended_at_us"), ENDED_AT_US);
	CHECK_INT(prop_u(&ps, "samples"), 9601);
	CHECK_STR(prop_type(&ps, "avg_bpm"), "d");
	CHECK_NEAR(prop_d(&ps, "avg_bpm"), 108.5, 1e-9);
	CHECK_NEAR(prop_d(&ps, "min_bpm"), 62, 1e-9);
	CHECK_NEAR(prop_d(&ps, "max_bpm"), 171, 1e-9);
	CHECK_NEAR(prop_d(&ps, "duration_s"), 2500.375, 1e-9);
	CHECK_NEAR(prop_d(&ps, "active_s"), 2400.25, 1e-9);
	CHECK_NEAR(prop_d(&ps, "gap_s"), 100.125, 1e-9);
	CHECK_NEAR(prop_d(&ps, "mvpa_s"), 1800.75, 1e-9);
	CHECK_NEAR(prop_d(&ps, "ecb_s"), 900.5, 1e-9);
	CHECK_NEAR(prop_d(&ps, "trimp_edwards"), 88.25, 1e-9);
	CHECK_NEAR(prop_d(&ps, "trimp_banister"), 64.125, 1e-9);
	CHECK_NEAR(prop_d(&ps, "rmssd_ms"), 41.5, 1e-9);
	z = prop(&ps, "zones_s");
	CHECK(z != NULL);
	if (z) {
		CHECK_STR(z->type, "ad");
		CHECK_INT(z->n_ad, 6);
		for (size_t i = 0; i < 6 && i < z->n_ad; i++)
			CHECK_NEAR(z->ad[i], zone_s[i], 1e-9);
	}
	CHECK(changed_nth(CD_DBUS_PATH, 0, CD_DBUS_INTERFACE, &ps));
	CHECK_STR(prop_s(&ps, "SessionState"), "idle");
	CHECK_INT(prop_u(&ps, "SessionId"), 0);
}

static void test_milestone(void)
{
	sd_bus_message *m;
	const char *name = NULL;
	uint64_t id = 0;

	clear_signals();
	publish(&(struct cd_event){
		.type = CD_EVENT_MILESTONE, .device = ID_H10, .session = 8, .milestone = "mvpa_20" });
	settle();
	CHECK_INT(signal_count("MilestoneReached", CD_DBUS_PATH), 1);
	m = signal_nth("MilestoneReached", CD_DBUS_PATH, 0);
	CHECK(m && sd_bus_message_read(m, "ts", &id, &name) > 0);
	CHECK_INT(id, 8);
	CHECK_STR(name, "mvpa_20");
}

/* A strap the contract did not list at start: its first event publishes it. */
static void test_new_strap(void)
{
	struct object objs[8];
	struct props ps;
	sd_bus_message *m;
	const char *path = NULL, *id = NULL, *name = NULL, *transport = NULL;
	bool device = false;
	int n;

	/* One the contract does not know: nothing at all. */
	clear_signals();
	publish_hr("ghost", 70, 1, NULL, 0);
	settle();
	CHECK_INT(n_received, 0);

	clear_signals();
	fake.n_straps = 3;
	publish_hr(ID_SIM, 88, 1, NULL, 0);
	settle();
	CHECK_INT(signal_count("InterfacesAdded", CD_DBUS_PATH), 1);
	m = signal_nth("InterfacesAdded", CD_DBUS_PATH, 0);
	CHECK(m && sd_bus_message_read_basic(m, 'o', &path) > 0);
	CHECK_STR(path, PATH_SIM);
	ps.n = 0;
	CHECK(m && read_interfaces(m, &device, &ps) >= 0);
	CHECK(device);
	CHECK_STR(prop_s(&ps, "Id"), ID_SIM);
	CHECK_STR(prop_s(&ps, "Name"), "Simulated strap");
	CHECK_STR(prop_s(&ps, "Transport"), "sim");
	CHECK_INT(prop_u(&ps, "Connected"), 1);
	CHECK_INT(prop_u(&ps, "HeartRate"), 88);
	CHECK_INT(prop_u(&ps, "Zone"), 1);
	CHECK_INT(prop_u(&ps, "BatteryPercentage"), 100);

	CHECK_INT(signal_count("DeviceConnected", CD_DBUS_PATH), 1);
	m = signal_nth("DeviceConnected", CD_DBUS_PATH, 0);
	CHECK(m && sd_bus_message_read(m, "sss", &id, &name, &transport) > 0);
	CHECK_STR(id, ID_SIM);
	CHECK_STR(name, "Simulated strap");
	CHECK_STR(transport, "sim");
	CHECK_INT(signal_count("HeartRate", CD_DBUS_PATH), 1);

	n = managed_devices(objs, ELEMENTSOF(objs));
	CHECK_INT(n, 3);
	CHECK(object_props(objs, n, PATH_SIM) != NULL);
}

/* A frozen value is never shown as live: stale or disconnected is HeartRate 0. */
static void test_stale_and_disconnected(void)
{
	struct strap *sim = &fake.straps[2], *h10 = &fake.straps[0];
	struct props ps;
	sd_bus_message *m;
	const char *id = NULL;

	clear_signals();
	sim->stale = true;
	publish_device(ID_SIM);
	settle();
	CHECK(changed_nth(PATH_SIM, 0, CD_DBUS_DEVICE_INTERFACE, &ps));
	CHECK_INT(prop_u(&ps, "HeartRate"), 0);
	CHECK_INT(prop_u(&ps, "Zone"), 0);
	CHECK_INT(get_all(PATH_SIM, CD_DBUS_DEVICE_INTERFACE, &ps), 0);
	CHECK_INT(prop_u(&ps, "HeartRate"), 0); /* the table still says 88 */
	CHECK_INT(prop_u(&ps, "Connected"), 1);
	CHECK_INT(signal_count("DeviceDisconnected", NULL), 0);

	clear_signals();
	h10->connected = false;
	publish_device(ID_H10);
	settle();
	CHECK_INT(signal_count("DeviceDisconnected", CD_DBUS_PATH), 1);
	m = signal_nth("DeviceDisconnected", CD_DBUS_PATH, 0);
	CHECK(m && sd_bus_message_read(m, "s", &id) > 0);
	CHECK_STR(id, ID_H10);
	CHECK_INT(signal_count("DeviceConnected", NULL), 0);
	CHECK_INT(get_all(PATH_H10, CD_DBUS_DEVICE_INTERFACE, &ps), 0);
	CHECK_INT(prop_u(&ps, "Connected"), 0);
	CHECK_INT(prop_u(&ps, "HeartRate"), 0); /* the table still says 145 */
	CHECK_INT(prop_u(&ps, "Zone"), 0);
	CHECK_INT(get_all(CD_DBUS_PATH, CD_DBUS_INTERFACE, &ps), 0);
	CHECK_INT(prop_u(&ps, "HeartRate"), 0); /* the root follows it */
	CHECK_STR(prop_s(&ps, "Device"), ID_H10);

	/* Back: DeviceConnected again, and its heart rate is live again. */
	clear_signals();
	h10->connected = true;
	publish_device(ID_H10);
	settle();
	CHECK_INT(signal_count("DeviceConnected", CD_DBUS_PATH), 1);
	CHECK_INT(signal_count("DeviceDisconnected", NULL), 0);
	CHECK(changed_nth(PATH_H10, 0, CD_DBUS_DEVICE_INTERFACE, &ps));
	CHECK_INT(prop_u(&ps, "Connected"), 1);
	CHECK_INT(prop_u(&ps, "HeartRate"), 145);
}

/* The root follows whichever strap the contract calls primary, or none. */
static void test_primary(void)
{
	struct strap *ant = &fake.straps[1];
	struct props ps;

	clear_signals();
	fake.primary = 1;
	ant->stale = false;
	ant->battery_pct = 55;
	ant->session_id = 21;
	ant->active_s = 60;
	ant->mvpa_s = 30;
	ant->ecb_s = 15;
	publish_device(ID_ANT);
	settle();
	CHECK(changed_nth(PATH_ANT, 0, CD_DBUS_DEVICE_INTERFACE, &ps));
	CHECK_INT(prop_u(&ps, "BatteryPercentage"), 55);
	CHECK_INT(prop_u(&ps, "HeartRate"), 99);
	CHECK_INT(signal_count("PropertiesChanged", CD_DBUS_PATH), 1);
	CHECK(changed_nth(CD_DBUS_PATH, 0, CD_DBUS_INTERFACE, &ps));
	CHECK_STR(prop_s(&ps, "Device"), ID_ANT);
	CHECK_INT(prop_u(&ps, "HeartRate"), 99);
	CHECK_INT(prop_u(&ps, "Zone"), 2);
	CHECK_INT(prop_u(&ps, "SessionId"), 21);
	CHECK_STR(prop_s(&ps, "SessionState"), "active");
	CHECK_NEAR(prop_d(&ps, "ActiveSeconds"), 60, 1e-9);
	CHECK_NEAR(prop_d(&ps, "MvpaSeconds"), 30, 1e-9);
	CHECK_NEAR(prop_d(&ps, "EcbSeconds"), 15, 1e-9);

	/* No primary (-ENOENT): an empty, idle root. */
	clear_signals();
	fake.primary = -1;
	publish_device(ID_ANT);
	settle();
	CHECK_INT(get_all(CD_DBUS_PATH, CD_DBUS_INTERFACE, &ps), 0);
	CHECK_STR(prop_s(&ps, "Device"), "");
	CHECK_INT(prop_u(&ps, "HeartRate"), 0);
	CHECK_INT(prop_u(&ps, "SessionId"), 0);
	CHECK_STR(prop_s(&ps, "SessionState"), "idle");
	CHECK_NEAR(prop_d(&ps, "ActiveSeconds"), 0, 1e-9);
}

static void check_who(const struct who *w)
{
	CHECK(w->set);
	CHECK_STR(w->via, "D-Bus");
	CHECK_INT(w->uid, (int64_t)getuid());
	CHECK(w->may_manage);
}

static void test_methods(void)
{
	static const char *const bad[] = { "has space", "tab\tid", "bell\a", "del\x7f" };
	sd_bus_message *reply;
	uint64_t id = 0;
	const char *text = NULL;
	_cleanup_free_ char *expected = NULL;
	_cleanup_(cJSON_Deletep) cJSON *o = NULL;
	unsigned calls;

	/* StartSession("") is the primary strap: device NULL. */
	reply = call(CD_DBUS_PATH, CD_DBUS_INTERFACE, "StartSession", "s", "");
	CHECK_STR(error_name(reply), "");
	CHECK(reply && sd_bus_message_read(reply, "t", &id) > 0);
	CHECK_INT(id, 11);
	sd_bus_message_unref(reply);
	CHECK_INT(fake.start_calls, 1);
	CHECK(fake.start_device_null);
	check_who(&fake.start_who);

	reply = call(CD_DBUS_PATH, CD_DBUS_INTERFACE, "StartSession", "s", ID_SIM);
	CHECK_STR(error_name(reply), "");
	id = 0;
	CHECK(reply && sd_bus_message_read(reply, "t", &id) > 0);
	CHECK_INT(id, 12);
	sd_bus_message_unref(reply);
	CHECK(!fake.start_device_null);
	CHECK_STR(fake.start_device, ID_SIM);

	expect_error(CD_DBUS_ERROR_NO_SUCH_DEVICE, "StartSession", "s", "nope");
	CHECK_INT(fake.start_calls, 3);
	CHECK_STR(fake.start_device, "nope");

	/* Bad ids never reach the contract. */
	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		expect_error(ERROR_INVALID_ARGS, "StartSession", "s", bad[i]);
	CHECK_INT(fake.start_calls, 3);

	expect_error(CD_DBUS_ERROR_NOT_ACTIVE, "StopSession", "t", UINT64_C(0));
	CHECK_INT(fake.stop_calls, 1);
	CHECK_INT(fake.stop_session, 0);

	fake.stop_who.set = false;
	reply = call(CD_DBUS_PATH, CD_DBUS_INTERFACE, "StopSession", "t", UINT64_C(5));
	CHECK_STR(error_name(reply), "");
	sd_bus_message_unref(reply);
	CHECK_INT(fake.stop_calls, 2);
	CHECK_INT(fake.stop_session, 5);
	CHECK(fake.stop_device_null);
	check_who(&fake.stop_who);

	expect_error(CD_DBUS_ERROR_NO_SUCH_SESSION, "StopSession", "t", UINT64_C(6));
	CHECK_INT(fake.stop_calls, 3);
	CHECK_INT(fake.stop_session, 6);

	expect_error(ERROR_INVALID_ARGS, "StopSession", "t", UINT64_MAX);
	CHECK_INT(fake.stop_calls, 3);

	/* GetSession: the contract's object, as JSON text. */
	o = session_json(7);
	expected = o ? cJSON_PrintUnformatted(o) : NULL;
	reply = call(CD_DBUS_PATH, CD_DBUS_INTERFACE, "GetSession", "t", UINT64_C(7));
	CHECK_STR(error_name(reply), "");
	CHECK(reply && sd_bus_message_read(reply, "s", &text) > 0);
	CHECK_STR(text, expected);
	sd_bus_message_unref(reply);

	calls = fake.session_calls;
	expect_error(CD_DBUS_ERROR_NO_SUCH_SESSION, "GetSession", "t", UINT64_C(99));
	CHECK_INT(fake.session_calls, calls + 1);

	expect_error(ERROR_INVALID_ARGS, "GetSession", "t", UINT64_MAX);
	CHECK_INT(fake.session_calls, calls + 1);
}

/* A root PropertiesChanged with the week in it, into *arg. */
static bool week_changed(void *arg)
{
	for (size_t i = 0; changed_nth(CD_DBUS_PATH, i, CD_DBUS_INTERFACE, arg); i++)
		if (prop(arg, "WeekIntensityMinutes"))
			return true;
	return false;
}

/* The week is asked again every CD_DBUS_WEEK_S, and what changed is announced. */
static void test_week_timer(void)
{
	struct props ps;
	unsigned calls = fake.week_calls;

	clear_signals();
	fake.week = (struct cd_front_week){
		.today_min = 20, .week_min = 105.5, .goal_min = 150, .week_sessions = 5 };
	CHECK(run_until(week_changed, &ps, (CD_DBUS_WEEK_S + 5) * 1000));
	CHECK(fake.week_calls > calls);
	CHECK_NEAR(prop_d(&ps, "WeekIntensityMinutes"), 105.5, 1e-9);
	CHECK_NEAR(prop_d(&ps, "TodayIntensityMinutes"), 20, 1e-9);
	CHECK_INT(prop_u(&ps, "WeekSessions"), 5);
	CHECK(prop(&ps, "WeekGoalMinutes") == NULL); /* unchanged */
	CHECK_INT(get_all(CD_DBUS_PATH, CD_DBUS_INTERFACE, &ps), 0);
	CHECK_NEAR(prop_d(&ps, "WeekIntensityMinutes"), 105.5, 1e-9);
}

/* NameOwnerChanged(org.cardiod.Cardiod1, old, ""): the name was released. */
static bool name_released(void *arg)
{
	for (size_t i = 0;; i++) {
		sd_bus_message *m = signal_nth("NameOwnerChanged", NULL, i);
		const char *name, *old, *new;

		if (!m)
			return false;
		if (sd_bus_message_read(m, "sss", &name, &old, &new) > 0 &&
		    strcmp(name, CD_DBUS_NAME) == 0 && !*new)
			return true;
	}
}

static void test_free_and_name(struct cd_dbus *d, const struct cd_front *front,
			       const struct cd_dbus_config *config)
{
	struct cd_dbus *d2 = NULL, *d3 = NULL;
	struct strap *sim = &fake.straps[2];
	struct object objs[8];
	struct props ps;

	/* A sample, then the free before the loop runs: its PropertiesChanged still goes out. */
	clear_signals();
	sim->stale = false;
	publish_hr(ID_SIM, 77, 1, NULL, 0);
	cd_dbus_free(d);
	CHECK(run_until(name_released, NULL, 10000));
	CHECK_INT(signal_count("HeartRate", CD_DBUS_PATH), 1);
	CHECK_INT(signal_count("PropertiesChanged", PATH_SIM), 1);
	CHECK(changed_nth(PATH_SIM, 0, CD_DBUS_DEVICE_INTERFACE, &ps));
	CHECK_INT(prop_u(&ps, "HeartRate"), 77);
	/* Unsubscribed: an event now reaches no freed service (ASan would say). */
	publish_hr(ID_SIM, 78, 1, NULL, 0);

	/* The name is free again: a second service gets it, and sees every strap. */
	fake.primary = 0;
	CHECK_INT(cd_dbus_new(loop, bus_address, front, config, &d2), 0);
	CHECK(d2 != NULL);
	CHECK(cd_dbus_connected(d2) > 0);
	CHECK_INT(managed_devices(objs, ELEMENTSOF(objs)), 3);
	CHECK_INT(get_all(CD_DBUS_PATH, CD_DBUS_INTERFACE, &ps), 0);
	CHECK_STR(prop_s(&ps, "Device"), ID_H10);
	CHECK_INT(prop_u(&ps, "HeartRate"), 145);

	/* Two at once: the second fails rather than queue. */
	CHECK_INT(cd_dbus_new(loop, bus_address, front, config, &d3), -EEXIST);
	CHECK(d3 == NULL);
	CHECK(cd_dbus_connected(d2) > 0);
	cd_dbus_free(d2);
}

int main(void)
{
	_cleanup_(sd_event_unrefp) sd_event *e = NULL;
	/* Groups nobody is in: only the service's own uid (and root) may call. */
	const struct cd_dbus_config config = {
		.manage_group = "cdtest-no-such-group",
		.read_group = "cdtest-no-such-readers",
	};
	struct cd_front front = { .ops = &fake_ops };
	struct cd_dbus *d = NULL;
	static char sentinel;
	int r;

	if (getenv("CD_TEST_DEBUG"))
		log_set_max_level(LOG_DEBUG);
	signal(SIGPIPE, SIG_IGN);

	r = start_bus();
	CHECK_INT(r, 0);
	if (r < 0) {
		stop_bus();
		return check_exit("test-dbus");
	}
	CHECK_INT(sd_event_new(&e), 0);
	CHECK_INT(cd_events_new(0, &hub), 0);
	if (!e || !hub)
		goto out;
	loop = e;
	front.events = hub;

	/* Arguments. */
	CHECK_INT(cd_dbus_new(e, NULL, &front, &config, &d), -EINVAL);
	CHECK_INT(cd_dbus_new(e, bus_address, NULL, &config, &d), -EINVAL);
	d = (struct cd_dbus *)(void *)&sentinel; /* must be overwritten */
	CHECK_INT(cd_dbus_new(e, "none", &front, &config, &d), 0);
	CHECK(d == NULL);

	CHECK_INT(cd_dbus_new(e, bus_address, &front, &config, &d), 0);
	CHECK(d != NULL);
	if (!d)
		goto out;
	CHECK(cd_dbus_connected(d) > 0);

	r = sd_bus_new(&client);
	if (r >= 0)
		r = sd_bus_set_address(client, bus_address);
	if (r >= 0)
		r = sd_bus_set_bus_client(client, true);
	if (r >= 0)
		r = sd_bus_start(client);
	if (r >= 0)
		r = sd_bus_attach_event(client, e, SD_EVENT_PRIORITY_NORMAL);
	if (r >= 0)
		r = sd_bus_add_match(client, NULL,
				     "type='signal',path_namespace='" CD_DBUS_PATH "'", on_signal,
				     NULL);
	if (r >= 0)
		r = sd_bus_add_match(client, NULL,
				     "type='signal',sender='org.freedesktop.DBus',"
				     "member='NameOwnerChanged',arg0='" CD_DBUS_NAME "'",
				     on_signal, NULL);
	CHECK(r >= 0);
	if (r < 0) {
		cd_dbus_free(d);
		goto out;
	}

	test_objects();
	test_heart_rate();
	test_coalescing();
	test_zone();
	test_sessions();
	test_milestone();
	test_new_strap();
	test_stale_and_disconnected();
	test_primary();
	test_methods();
	test_week_timer();
	test_free_and_name(d, &front, &config);

out:
	clear_signals();
	client = sd_bus_flush_close_unref(client);
	cd_events_free(hub);
	stop_bus();
	return check_exit("test-dbus");
}
