/* SPDX-License-Identifier: MIT */
/*
 * The INI file of DESIGN §6 through inih, and the same keys from the
 * command line.  inih does not pass line numbers to the handler in
 * Debian's build, so the text is fed through our own line reader, which
 * counts lines: the handler then knows the line of the key it is given.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "cleanup.h"
#include "daemon-config.h"
#include "http.h"

static void strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

static int strv_parse(const char *s, char ***ret)
{
	/* A list: items separated by commas and/or white space. */
	char **v = calloc(strlen(s) / 2 + 2, sizeof(char *));
	size_t n = 0;

	if (!v)
		return -ENOMEM;
	while (*s) {
		size_t len;

		s += strspn(s, ", \t");
		len = strcspn(s, ", \t");
		if (len == 0)
			break;
		v[n] = strndup(s, len);
		if (!v[n]) {
			strv_free(v);
			return -ENOMEM;
		}
		n++;
		s += len;
	}
	*ret = v;
	return 0;
}

static void config_profile_done(struct cd_config_profile *p)
{
	strv_free(p->devices);
	p->devices = NULL;
}

int cd_config_init(struct cd_config *c)
{
	*c = (struct cd_config){
		.http_max_connections = CD_HTTP_DEFAULT_MAX_CONNECTIONS,
		.http_timeout_s = CD_HTTP_DEFAULT_TIMEOUT_S,
		.http_max_event_streams = CD_HTTP_DEFAULT_MAX_EVENT_STREAMS,
		.ble_enabled = true,
		.ble_forget_after_s = 600,
		.storage_startup_check_max_mb = 64,
		.ble_max_unknown = 16,
		.ant_enabled = true,
		.ant_max_unknown = 16,
		.ant_forget_after_s = 600,
		.idle_timeout_s = 120,
		.commit_interval_s = 5,
		.mqtt_discovery = true,
		.mqtt_publish_interval_s = 5,
		.http_max_import_bytes = CD_CONFIG_DEFAULT_MAX_IMPORT_BYTES,
		.goal_weekly_intensity_min = 150,
		.goal_weekly_sessions = 3,
	};
	cd_engine_config_init(&c->engine);
	cd_profile_init(&c->default_profile.profile);
	c->listen = strdup(CD_CONFIG_DEFAULT_LISTEN);
	c->bus = strdup("system");
	c->http_token_file = strdup(CD_CONFIG_DEFAULT_TOKEN_FILE);
	c->bus_manage_group = strdup(CD_CONFIG_DEFAULT_MANAGE_GROUP);
	c->bus_read_group = strdup(CD_CONFIG_DEFAULT_READ_GROUP);
	c->db_path = strdup(CD_CONFIG_DEFAULT_DB);
	c->ant_device = strdup("auto");
	c->mqtt_discovery_prefix = strdup("homeassistant");
	if (!c->listen || !c->bus || !c->db_path || !c->ant_device || !c->mqtt_discovery_prefix ||
	    !c->http_token_file || !c->bus_manage_group || !c->bus_read_group) {
		cd_config_done(c);
		return -ENOMEM;
	}
	return 0;
}

void cd_config_done(struct cd_config *c)
{
	free(c->listen);
	free(c->bus);
	free(c->db_path);
	config_profile_done(&c->default_profile);
	for (size_t i = 0; i < c->n_profiles; i++)
		config_profile_done(&c->profiles[i]);
	free(c->profiles);
	free(c->http_token_file);
	free(c->bus_manage_group);
	free(c->bus_read_group);
	free(c->ble_adapter);
	strv_free(c->ble_devices);
	free(c->ant_device);
	free(c->ant_key_file);
	free(c->ant_devices);
	free(c->mqtt_url);
	free(c->mqtt_host);
	free(c->mqtt_username);
	free(c->mqtt_password_file);
	free(c->mqtt_ca_file);
	free(c->mqtt_topic_prefix);
	free(c->mqtt_discovery_prefix);
	*c = (struct cd_config){};
}

/* "ORIGIN:LINE: " or "ORIGIN: " then the reason. */
__attribute__((format(printf, 4, 5))) static int fail(char **ret_error, const char *origin,
						       unsigned line, const char *fmt, ...)
{
	char reason[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (!ret_error)
		return -EINVAL;
	if (line > 0)
		n = asprintf(ret_error, "%s:%u: %s", origin, line, reason);
	else
		n = asprintf(ret_error, "%s: %s", origin, reason);
	if (n < 0) {
		*ret_error = NULL;
		return -ENOMEM;
	}
	return -EINVAL;
}

static int parse_number(const char *s, double min, double max, double *ret)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v < min || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

static int parse_bool(const char *s)
{
	static const char *const yes[] = { "1", "yes", "true", "on" };
	static const char *const no[] = { "0", "no", "false", "off" };

	for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0)
			return 1;
		if (strcasecmp(s, no[i]) == 0)
			return 0;
	}
	return -EINVAL;
}

/* "ADDR:PORT", ADDR an IPv4 address, a name, or "[v6]". */
static bool listen_valid(const char *s)
{
	const char *colon = strrchr(s, ':');
	double port;

	if (!colon || colon == s)
		return false;
	if (s[0] == '[' && colon[-1] != ']')
		return false;
	if (parse_number(colon + 1, 0, 65535, &port) < 0 || port != floor(port))
		return false;
	return strspn(colon + 1, "0123456789") == strlen(colon + 1);
}

/* A group name as useradd(8) takes them: [a-z_][a-z0-9_-]*, at most 32 bytes. */
static bool group_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 32 || !((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

static int set_string(char **dst, const char *value)
{
	char *s = strdup(value);

	if (!s)
		return -ENOMEM;
	free(*dst);
	*dst = s;
	return 0;
}

static struct cd_config_profile *profile_get(struct cd_config *c, const char *name)
{
	struct cd_config_profile *n;

	if (!name)
		return &c->default_profile;
	for (size_t i = 0; i < c->n_profiles; i++)
		if (strcmp(c->profiles[i].profile.name, name) == 0)
			return &c->profiles[i];
	n = realloc(c->profiles, (c->n_profiles + 1) * sizeof(*n));
	if (!n)
		return NULL;
	c->profiles = n;
	n = &c->profiles[c->n_profiles++];
	*n = (struct cd_config_profile){};
	cd_profile_init(&n->profile);
	snprintf(n->profile.name, sizeof(n->profile.name), "%s", name);
	return n;
}

static int set_profile(struct cd_config *c, const char *name, const char *key, const char *value,
		       const char *origin, unsigned line, char **ret_error)
{
	struct cd_config_profile *cp;
	struct cd_profile *p;
	double v;
	int r;

	if (name && (strlen(name) >= sizeof(p->name) || strcmp(name, "default") == 0 ||
		     strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") !=
			     strlen(name)))
		return fail(ret_error, origin, line,
			    "[profile %s]: a profile name is one word of letters, digits, '_', "
			    "'.', '-' (at most 63), and not \"default\"",
			    name);
	cp = profile_get(c, name);
	if (!cp)
		return -ENOMEM;
	p = &cp->profile;
	cp->line = line;
	cp->origin = origin;

	if (strcmp(key, "age") == 0) {
		if (parse_number(value, 1, 120, &v) < 0)
			return fail(ret_error, origin, line,
				    "age: expected a number of years between 1 and 120, got '%s'",
				    value);
		cd_profile_set_age(p, v);
		cp->set_age = true;
	} else if (strcmp(key, "hr_max") == 0) {
		if (parse_number(value, 60, 260, &v) < 0)
			return fail(ret_error, origin, line,
				    "hr_max: expected a heart rate between 60 and 260 bpm, got '%s'",
				    value);
		cd_profile_set_hr_max(p, v);
		cp->set_hr_max = true;
	} else if (strcmp(key, "hr_rest") == 0) {
		if (parse_number(value, 20, 150, &v) < 0)
			return fail(ret_error, origin, line,
				    "hr_rest: expected a heart rate between 20 and 150 bpm, got '%s'",
				    value);
		p->hr_rest = v;
	} else if (strcmp(key, "sex") == 0) {
		enum cd_sex s = cd_sex_from_string(value);

		if ((int)s < 0)
			return fail(ret_error, origin, line,
				    "sex: expected male or female, got '%s'", value);
		p->sex = s;
	} else if (strcmp(key, "zones") == 0) {
		double b[CD_ZONE_BOUNDS];

		if (cd_parse_bounds(value, b) < 0 || b[CD_ZONE_BOUNDS - 1] > 200)
			return fail(ret_error, origin, line,
				    "zones: expected five increasing percentages like "
				    "50,60,70,80,90, got '%s'",
				    value);
		memcpy(p->zones_pct, b, sizeof(b));
		cp->set_zones = true;
	} else if (strcmp(key, "zones_bpm") == 0) {
		if (cd_parse_bounds(value, p->zones_bpm) < 0)
			return fail(ret_error, origin, line,
				    "zones_bpm: expected five increasing heart rates like "
				    "100,120,140,160,175, got '%s'",
				    value);
		p->has_zones_bpm = true;
		cp->set_zones_bpm = true;
	} else if (strcmp(key, "model") == 0) {
		enum cd_zone_model m = cd_model_from_string(value);

		if ((int)m < 0)
			return fail(ret_error, origin, line,
				    "model: expected percent_max, percent_reserve or zones_bpm, "
				    "got '%s'",
				    value);
		p->model = m;
		cp->set_model = true;
	} else if (strcmp(key, "devices") == 0) {
		char **v2;

		r = strv_parse(value, &v2);
		if (r < 0)
			return r;
		strv_free(cp->devices);
		cp->devices = v2;
	} else
		return fail(ret_error, origin, line, "unknown key '%s' in [profile%s%s]", key,
			    name ? " " : "", name ? name : "");
	return 0;
}

static int set_session(struct cd_config *c, const char *key, const char *value,
		       const char *origin, unsigned line, char **ret_error)
{
	static const struct {
		const char *key;
		size_t offset;
		double min, max;
	} keys[] = {
		{ "idle_timeout_s", offsetof(struct cd_config, idle_timeout_s), 1, 86400 },
		{ "max_gap_s", offsetof(struct cd_config, engine.max_gap_s), 0.001, 3600 },
		{ "stale_after_s", offsetof(struct cd_config, engine.stale_after_s), 0.001, 3600 },
		{ "window_s", offsetof(struct cd_config, engine.window_s), 1, 86400 },
		{ "commit_interval_s", offsetof(struct cd_config, commit_interval_s), 0.01, 3600 },
	};

	for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
		double v;

		if (strcmp(key, keys[i].key) != 0)
			continue;
		if (parse_number(value, keys[i].min, keys[i].max, &v) < 0)
			return fail(ret_error, origin, line,
				    "%s: expected a number of seconds between %g and %g, got '%s'",
				    key, keys[i].min, keys[i].max, value);
		*(double *)((char *)c + keys[i].offset) = v;
		return 0;
	}
	return fail(ret_error, origin, line, "unknown key '%s' in [session]", key);
}

/* [goals]: the weekly dose of DESIGN §9.4. */
static int set_goals(struct cd_config *c, const char *key, const char *value, const char *origin,
		     unsigned line, char **ret_error)
{
	double v;

	if (strcmp(key, "weekly_intensity_min") == 0) {
		if (parse_number(value, 0, 10080, &v) < 0)
			return fail(ret_error, origin, line,
				    "%s: expected minutes between 0 and 10080, got '%s'", key, value);
		c->goal_weekly_intensity_min = v;
		return 0;
	}
	if (strcmp(key, "weekly_sessions") == 0) {
		if (strspn(value, "0123456789") != strlen(value) ||
		    parse_number(value, 0, 1000, &v) < 0)
			return fail(ret_error, origin, line,
				    "%s: expected a whole number from 0 to 1000, got '%s'", key,
				    value);
		c->goal_weekly_sessions = (unsigned)v;
		return 0;
	}
	return fail(ret_error, origin, line, "unknown key '%s' in [goals]", key);
}

static int set_http(struct cd_config *c, const char *key, const char *value, const char *origin,
		    unsigned line, char **ret_error)
{
	/* Whole numbers: MHD counts its timeout in seconds. */
	static const struct {
		const char *key;
		size_t offset;
		unsigned min, max;
		const char *unit;
	} keys[] = {
		{ "max_connections", offsetof(struct cd_config, http_max_connections), 1,
		  CD_HTTP_MAX_CONNECTIONS, "connections" },
		{ "timeout_s", offsetof(struct cd_config, http_timeout_s), 1, 3600, "seconds" },
		{ "max_import_bytes", offsetof(struct cd_config, http_max_import_bytes), 4096,
		  1u << 30, "bytes" },
		{ "max_event_streams", offsetof(struct cd_config, http_max_event_streams), 1,
		  CD_HTTP_MAX_EVENT_STREAMS, "streams" },
	};

	if (strcmp(key, "listen") == 0) {
		if (!listen_valid(value))
			return fail(ret_error, origin, line,
				    "listen: expected ADDR:PORT like 127.0.0.1:8080, got '%s'",
				    value);
		return set_string(&c->listen, value);
	}
	if (strcmp(key, "token_file") == 0) {
		if (value[0] != '/')
			return fail(ret_error, origin, line,
				    "token_file: expected an absolute path, got '%s'", value);
		return set_string(&c->http_token_file, value);
	}
	if (strcmp(key, "read_access") == 0) {
		if (strcmp(value, "open") != 0 && strcmp(value, "token") != 0)
			return fail(ret_error, origin, line,
				    "read_access: expected open or token, got '%s'", value);
		c->http_read_token = strcmp(value, "token") == 0;
		return 0;
	}
	if (strcmp(key, "allow_remote") == 0) {
		int b = parse_bool(value);

		if (b < 0)
			return fail(ret_error, origin, line,
				    "allow_remote: expected true or false, got '%s'", value);
		c->http_allow_remote = b;
		return 0;
	}
	for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
		double v;

		if (strcmp(key, keys[i].key) != 0)
			continue;
		if (strspn(value, "0123456789") != strlen(value) ||
		    parse_number(value, keys[i].min, keys[i].max, &v) < 0)
			return fail(ret_error, origin, line,
				    "%s: expected a whole number of %s from %u to %u, got '%s'", key,
				    keys[i].unit, keys[i].min, keys[i].max, value);
		*(unsigned *)((char *)c + keys[i].offset) = (unsigned)v;
		return 0;
	}
	return fail(ret_error, origin, line, "unknown key '%s' in [http]", key);
}

/*
 * [ant] devices: ANT+ device numbers (the 20-bit number of DESIGN §6, as in
 * "ant-12345"; the "ant-" prefix is optional), separated by commas or
 * white space.  Empty: every strap in range.
 */
/* §9.7, [ble] and [ant] forget_after_s: seconds, 1 to 86400. */
static int set_forget_after(double *dst, const char *value, const char *origin, unsigned line,
			    char **ret_error)
{
	if (parse_number(value, 1, 86400, dst) < 0)
		return fail(ret_error, origin, line,
			    "forget_after_s: expected a number of seconds between 1 and 86400, "
			    "got '%s'",
			    value);
	return 0;
}

/* §9.7, [ble] and [ant] max_unknown: a whole number from min to max. */
static int set_max_unknown(unsigned *dst, unsigned min, unsigned max, const char *value,
			   const char *origin, unsigned line, char **ret_error)
{
	double v;

	if (parse_number(value, min, max, &v) < 0 || v != (unsigned)v)
		return fail(ret_error, origin, line,
			    "max_unknown: expected a whole number from %u to %u, got '%s'", min, max,
			    value);
	*dst = (unsigned)v;
	return 0;
}

static int set_ant_devices(struct cd_config *c, const char *value, const char *origin,
			   unsigned line, char **ret_error)
{
	_cleanup_free_ uint32_t *v = NULL;
	char **items = NULL;
	size_t n = 0;
	int r;

	r = strv_parse(value, &items);
	if (r < 0)
		return r;
	for (char **p = items; *p; p++)
		n++;
	if (n > 0) {
		v = calloc(n, sizeof(*v));
		if (!v) {
			strv_free(items);
			return -ENOMEM;
		}
	}
	for (size_t i = 0; i < n; i++) {
		const char *s = items[i];
		unsigned long long x;
		char *end;

		if (strncmp(s, "ant-", 4) == 0)
			s += 4;
		errno = 0;
		x = *s >= '0' && *s <= '9' ? strtoull(s, &end, 10) : 0;
		if (x == 0 || errno || *end || x > 0xFFFFF) {
			r = fail(ret_error, origin, line,
				 "devices: expected ANT+ device numbers from 1 to 1048575, got '%s'",
				 items[i]);
			strv_free(items);
			return r;
		}
		v[i] = (uint32_t)x;
	}
	strv_free(items);
	free(c->ant_devices);
	c->ant_devices = TAKE_PTR(v);
	c->n_ant_devices = n;
	return 0;
}

/*
 * [mqtt] url: mqtt://HOST[:PORT] or mqtts://HOST[:PORT], HOST a numeric
 * IPv4 address, [IPv6] or localhost.  Names are refused on purpose: a
 * blocking getaddrinfo() would stall the event loop, and the unit's
 * IPAddressAllow= drop-in needs the address anyway.
 */
static int set_mqtt_url(struct cd_config *c, const char *value, const char *origin,
			unsigned line, char **ret_error)
{
	const char *rest, *port_s = NULL;
	char host[INET6_ADDRSTRLEN + 2], buf[sizeof(struct in6_addr)];
	unsigned long port;
	bool tls;
	size_t len;
	char *h;

	if (strncmp(value, "mqtt://", 7) == 0)
		tls = false, rest = value + 7;
	else if (strncmp(value, "mqtts://", 8) == 0)
		tls = true, rest = value + 8;
	else
		goto bad;
	if (rest[0] == '[') {
		const char *end = strchr(rest, ']');

		if (!end || (size_t)(end - rest - 1) >= sizeof(host))
			goto bad;
		memcpy(host, rest + 1, end - rest - 1);
		host[end - rest - 1] = 0;
		if (inet_pton(AF_INET6, host, buf) != 1)
			goto bad;
		rest = end + 1;
		if (*rest == ':')
			port_s = rest + 1;
		else if (*rest && strcmp(rest, "/") != 0)
			goto bad;
	} else {
		len = strcspn(rest, ":/");
		if (len == 0 || len >= sizeof(host))
			goto bad;
		memcpy(host, rest, len);
		host[len] = 0;
		if (strcmp(host, "localhost") == 0)
			strcpy(host, "127.0.0.1");
		else if (inet_pton(AF_INET, host, buf) != 1)
			goto bad;
		rest += len;
		if (*rest == ':')
			port_s = rest + 1;
		else if (*rest && strcmp(rest, "/") != 0)
			goto bad;
	}
	port = tls ? 8883 : 1883;
	if (port_s) {
		char *end;

		if (!(*port_s >= '0' && *port_s <= '9'))
			goto bad;
		errno = 0;
		port = strtoul(port_s, &end, 10);
		if (errno || port == 0 || port > 65535 || (*end && strcmp(end, "/") != 0))
			goto bad;
	}
	h = strdup(host);
	if (!h || set_string(&c->mqtt_url, value) < 0) {
		free(h);
		return -ENOMEM;
	}
	free(c->mqtt_host);
	c->mqtt_host = h;
	c->mqtt_port = (unsigned)port;
	c->mqtt_tls = tls;
	return 0;
bad:
	return fail(ret_error, origin, line,
		    "url: expected mqtt://ADDRESS[:PORT] or mqtts://ADDRESS[:PORT] with a numeric "
		    "IPv4 address, [IPv6] or localhost (no host names: they would need a blocking "
		    "DNS lookup), got '%s'",
		    value);
}

/* An MQTT topic prefix: not empty, no wildcards, no leading or trailing '/'. */
static bool topic_prefix_valid(const char *s)
{
	return *s && !strpbrk(s, "+#") && s[0] != '/' && s[strlen(s) - 1] != '/' &&
	       strlen(s) <= 200;
}

static int set_mqtt(struct cd_config *c, const char *key, const char *value, const char *origin,
		    unsigned line, char **ret_error)
{
	int b;

	if (strcmp(key, "url") == 0) {
		if (!*value) {
			free(c->mqtt_url);
			c->mqtt_url = NULL;
			return 0;
		}
		return set_mqtt_url(c, value, origin, line, ret_error);
	}
	if (strcmp(key, "username") == 0)
		return set_string(&c->mqtt_username, value);
	if (strcmp(key, "password_file") == 0 || strcmp(key, "ca_file") == 0) {
		if (!*value)
			return fail(ret_error, origin, line, "%s: expected a path", key);
		return set_string(key[0] == 'p' ? &c->mqtt_password_file : &c->mqtt_ca_file,
				  value);
	}
	if (strcmp(key, "topic_prefix") == 0 || strcmp(key, "discovery_prefix") == 0) {
		if (!topic_prefix_valid(value))
			return fail(ret_error, origin, line,
				    "%s: expected an MQTT topic without + or # and without a leading "
				    "or trailing '/', got '%s'",
				    key, value);
		return set_string(key[0] == 't' ? &c->mqtt_topic_prefix
						: &c->mqtt_discovery_prefix,
				  value);
	}
	if (strcmp(key, "discovery") == 0) {
		b = parse_bool(value);
		if (b < 0)
			return fail(ret_error, origin, line, "discovery: expected yes or no, got '%s'",
				    value);
		c->mqtt_discovery = b;
		return 0;
	}
	if (strcmp(key, "publish_interval_s") == 0) {
		if (parse_number(value, 0.1, 3600, &c->mqtt_publish_interval_s) < 0)
			return fail(ret_error, origin, line,
				    "publish_interval_s: expected a number of seconds between 0.1 "
				    "and 3600, got '%s'",
				    value);
		return 0;
	}
	return fail(ret_error, origin, line, "unknown key '%s' in [mqtt]", key);
}

int cd_config_set(struct cd_config *c, const char *section, const char *key, const char *value,
		  const char *origin, unsigned line, char **ret_error)
{
	int b;

	if (!section || !*section)
		return fail(ret_error, origin, line, "'%s' is outside any [section]", key);
	if (!value)
		value = "";

	if (strcmp(section, "http") == 0)
		return set_http(c, key, value, origin, line, ret_error);
	if (strcmp(section, "bus") == 0) {
		if (strcmp(key, "manage_group") == 0 || strcmp(key, "read_group") == 0) {
			if (!group_name_valid(value))
				return fail(ret_error, origin, line,
					    "%s: expected a group name, got '%s'", key, value);
			return set_string(strcmp(key, "manage_group") == 0 ? &c->bus_manage_group
									  : &c->bus_read_group,
					  value);
		}
		if (strcmp(key, "bus") != 0)
			return fail(ret_error, origin, line, "unknown key '%s' in [bus]", key);
		if (strcmp(value, "system") != 0 && strcmp(value, "session") != 0 &&
		    strcmp(value, "none") != 0 && !strchr(value, ':'))
			return fail(ret_error, origin, line,
				    "bus: expected system, session, none or a D-Bus address "
				    "(unix:path=…), got '%s'",
				    value);
		return set_string(&c->bus, value);
	}
	if (strcmp(section, "profile") == 0)
		return set_profile(c, NULL, key, value, origin, line, ret_error);
	if (strncmp(section, "profile ", 8) == 0) {
		const char *name = section + 8;

		name += strspn(name, " \t");
		if (!*name)
			return set_profile(c, NULL, key, value, origin, line, ret_error);
		return set_profile(c, name, key, value, origin, line, ret_error);
	}
	if (strcmp(section, "ble") == 0) {
		if (strcmp(key, "enabled") == 0) {
			b = parse_bool(value);
			if (b < 0)
				return fail(ret_error, origin, line,
					    "enabled: expected yes or no, got '%s'", value);
			c->ble_enabled = b;
			return 0;
		}
		if (strcmp(key, "adapter") == 0)
			return set_string(&c->ble_adapter, value);
		if (strcmp(key, "devices") == 0) {
			char **v;
			int r = strv_parse(value, &v);

			if (r < 0)
				return r;
			strv_free(c->ble_devices);
			c->ble_devices = v;
			return 0;
		}
		if (strcmp(key, "forget_after_s") == 0)
			return set_forget_after(&c->ble_forget_after_s, value, origin, line,
						ret_error);
		if (strcmp(key, "max_unknown") == 0)
			return set_max_unknown(&c->ble_max_unknown, 1, 1024, value, origin,
					       line, ret_error);
		return fail(ret_error, origin, line, "unknown key '%s' in [ble]", key);
	}
	if (strcmp(section, "ant") == 0) {
		if (strcmp(key, "enabled") == 0) {
			b = parse_bool(value);
			if (b < 0)
				return fail(ret_error, origin, line,
					    "enabled: expected yes or no, got '%s'", value);
			c->ant_enabled = b;
			return 0;
		}
		if (strcmp(key, "device") == 0) {
			if (!*value)
				return fail(ret_error, origin, line,
					    "device: expected a tty path or 'auto'");
			return set_string(&c->ant_device, value);
		}
		if (strcmp(key, "network_key_file") == 0) {
			if (!*value)
				return fail(ret_error, origin, line,
					    "network_key_file: expected a path");
			return set_string(&c->ant_key_file, value);
		}
		if (strcmp(key, "devices") == 0)
			return set_ant_devices(c, value, origin, line, ret_error);
		if (strcmp(key, "mode") == 0) {
			if (strcmp(value, "scan") != 0 && strcmp(value, "channels") != 0)
				return fail(ret_error, origin, line,
					    "mode: expected scan or channels, got '%s'", value);
			c->ant_channels = strcmp(value, "channels") == 0;
			return 0;
		}
		if (strcmp(key, "forget_after_s") == 0)
			return set_forget_after(&c->ant_forget_after_s, value, origin, line,
						ret_error);
		if (strcmp(key, "max_unknown") == 0)
			return set_max_unknown(&c->ant_max_unknown, 0, 4096, value, origin,
					       line, ret_error);
		return fail(ret_error, origin, line, "unknown key '%s' in [ant]", key);
	}
	if (strcmp(section, "session") == 0)
		return set_session(c, key, value, origin, line, ret_error);
	if (strcmp(section, "goals") == 0)
		return set_goals(c, key, value, origin, line, ret_error);
	if (strcmp(section, "storage") == 0) {
		if (strcmp(key, "startup_check_max_mb") == 0) {
			double v;

			if (parse_number(value, 0, 1048576, &v) < 0)
				return fail(ret_error, origin, line,
					    "startup_check_max_mb: expected a size in MiB between 0 "
					    "and 1048576, got '%s'",
					    value);
			c->storage_startup_check_max_mb = v > 0 ? v : -1; /* store_config: < 0 */
			return 0;
		}
		if (strcmp(key, "path") != 0)
			return fail(ret_error, origin, line, "unknown key '%s' in [storage]", key);
		if (!*value)
			return fail(ret_error, origin, line, "path: expected a file name");
		return set_string(&c->db_path, value);
	}
	if (strcmp(section, "mqtt") == 0)
		return set_mqtt(c, key, value, origin, line, ret_error);
	return fail(ret_error, origin, line, "unknown section [%s]", section);
}

/* inih plumbing: a line reader over a string that counts lines. */
struct parse_state {
	struct cd_config *config;
	const char *pos;
	const char *filename;
	unsigned line;
	int error; /* first error */
	unsigned error_line;
	char *message;
};

static char *reader(char *str, int num, void *stream)
{
	struct parse_state *st = stream;
	size_t n = 0;

	if (!*st->pos)
		return NULL;
	/* Return a whole line; a too-long one is truncated to num - 1 bytes. */
	while (st->pos[n] && st->pos[n] != '\n')
		n++;
	if (st->pos[n] == '\n')
		n++;
	st->line++;
	if (n > (size_t)num - 1) {
		memcpy(str, st->pos, (size_t)num - 1);
		str[num - 1] = '\0';
	} else {
		memcpy(str, st->pos, n);
		str[n] = '\0';
	}
	st->pos += n;
	return str;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse_state *st = user;
	char *msg = NULL;
	int r;

	if (st->error)
		return 0; /* report the first problem only */
	r = cd_config_set(st->config, section, name, value, st->filename, st->line, &msg);
	if (r < 0) {
		st->error = r;
		st->error_line = st->line;
		st->message = msg;
		return 0;
	}
	return 1;
}

int cd_config_parse_string(struct cd_config *c, const char *text, const char *filename,
			   char **ret_error)
{
	struct parse_state st = {
		.config = c,
		.pos = text,
		.filename = filename,
	};
	int r;

	r = ini_parse_stream(reader, &st, handler, &st);
	if (r < 0)
		return -ENOMEM;
	if (r > 0 && (!st.error || (unsigned)r < st.error_line)) {
		/* A line inih could not read: neither "[section]" nor "key = value". */
		free(st.message);
		return fail(ret_error, filename, (unsigned)r,
			    "syntax error: expected [section], key = value, or a comment");
	}
	if (st.error) {
		if (ret_error)
			*ret_error = st.message;
		else
			free(st.message);
		return st.error;
	}
	return 0;
}

int cd_config_load_file(struct cd_config *c, const char *path, bool must_exist,
			char **ret_error)
{
	_cleanup_free_ char *text = NULL;
	FILE *f;
	size_t size = 0, cap = 0;

	f = fopen(path, "re");
	if (!f) {
		if (errno == ENOENT && !must_exist)
			return 0;
		return fail(ret_error, path, 0, "cannot read: %s", strerror(errno));
	}
	for (;;) {
		size_t n;

		if (cap - size < 4096) {
			char *t;

			if (cap > (1u << 20)) {
				fclose(f);
				return fail(ret_error, path, 0, "too large (more than 1 MiB)");
			}
			cap = cap ? cap * 2 : 8192;
			t = realloc(text, cap + 1);
			if (!t) {
				fclose(f);
				return -ENOMEM;
			}
			text = t;
		}
		n = fread(text + size, 1, cap - size, f);
		size += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		fclose(f);
		return fail(ret_error, path, 0, "cannot read: %s", strerror(EIO));
	}
	fclose(f);
	if (!text)
		return 0;
	text[size] = '\0';
	if (strlen(text) != size)
		return fail(ret_error, path, 0, "contains a NUL byte");
	return cd_config_parse_string(c, text, path, ret_error);
}

/*
 * Whether "ADDR:PORT" names loopback: localhost, 127.0.0.0/8 or [::1].  A
 * name other than localhost is not ours to judge: the HTTP server refuses
 * it with its own error (it resolves no names).
 */
static bool listen_is_loopback(const char *listen)
{
	const char *colon = strrchr(listen, ':');
	char host[64];
	struct in_addr a4;
	struct in6_addr a6;
	size_t n;

	if (!colon)
		return true;
	n = (size_t)(colon - listen);
	if (listen[0] == '[' && n >= 2 && listen[n - 1] == ']') {
		if (n - 2 >= sizeof(host))
			return true;
		memcpy(host, listen + 1, n - 2);
		host[n - 2] = '\0';
		return inet_pton(AF_INET6, host, &a6) != 1 || IN6_IS_ADDR_LOOPBACK(&a6);
	}
	if (n >= sizeof(host))
		return true;
	memcpy(host, listen, n);
	host[n] = '\0';
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	return true;
}

static int finish_profile(struct cd_config_profile *cp, const char *fallback, char **ret_error)
{
	const char *origin = cp->origin ? cp->origin : fallback;
	struct cd_profile *p = &cp->profile;
	const char *reason;
	const char *name = strcmp(p->name, "default") == 0 ? "" : p->name;
	const char *sp = *name ? " " : "";

	if (cp->set_zones && cp->set_zones_bpm)
		return fail(ret_error, origin, cp->line,
			    "[profile%s%s]: zones and zones_bpm are mutually exclusive", sp, name);
	/* As cardioctl analyze: zones_bpm implies the zones_bpm model unless one is named. */
	if (cp->set_zones_bpm && !cp->set_model)
		p->model = CD_MODEL_ZONES_BPM;
	if (!cp->set_hr_max && !cp->set_age)
		cd_profile_set_age(p, CD_CONFIG_DEFAULT_AGE);
	if (cd_profile_validate(p, &reason) < 0)
		return fail(ret_error, origin, cp->line, "[profile%s%s]: %s", sp, name, reason);
	return 0;
}

int cd_config_finish(struct cd_config *c, const char *origin, char **ret_error)
{
	int r;

	r = finish_profile(&c->default_profile, origin, ret_error);
	if (r < 0)
		return r;
	for (size_t i = 0; i < c->n_profiles; i++) {
		r = finish_profile(&c->profiles[i], origin, ret_error);
		if (r < 0)
			return r;
	}
	if (!c->http_allow_remote && !listen_is_loopback(c->listen))
		return fail(ret_error, origin, 0,
			    "[http]: listen %s is not a loopback address; set [http] allow_remote = "
			    "true to serve other machines (every request then needs the token)",
			    c->listen);
	if (c->engine.stale_after_s > c->idle_timeout_s)
		return fail(ret_error, origin, 0,
			    "[session]: stale_after_s (%g) must not exceed idle_timeout_s (%g)",
			    c->engine.stale_after_s, c->idle_timeout_s);
	return 0;
}

const struct cd_profile *cd_config_profile_for(const struct cd_config *c, const char *device_id)
{
	for (size_t i = 0; device_id && i < c->n_profiles; i++)
		for (char **d = c->profiles[i].devices; d && *d; d++)
			if (strcasecmp(*d, device_id) == 0)
				return &c->profiles[i].profile;
	return &c->default_profile.profile;
}
