/* SPDX-License-Identifier: MIT */
/*
 * cardiod's configuration (DESIGN §6): the INI file and its command-line
 * twins.  Every key is set through cd_config_set(), from the file (with its
 * line number) or from an option, so the two can never disagree on what a
 * value means.  No I/O except cd_config_load_file(); no logging: errors come
 * back as "FILE:LINE: reason" strings the caller prints.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "profile.h"

#define CD_CONFIG_DEFAULT_PATH CARDIOD_SYSCONFDIR "/cardiod/cardiod.conf"
#define CD_CONFIG_DEFAULT_DB CARDIOD_LOCALSTATEDIR "/lib/cardiod/cardiod.db"
#define CD_CONFIG_DEFAULT_LISTEN "127.0.0.1:8080"
/* Under the unit's RuntimeDirectory=cardiod (DESIGN §9.7). */
#define CD_CONFIG_DEFAULT_TOKEN_FILE "/run/cardiod/api-token"
#define CD_CONFIG_DEFAULT_MANAGE_GROUP "cardiod"
#define CD_CONFIG_DEFAULT_READ_GROUP "cardiod-readers"
/* Used when a profile gives neither hr_max nor age: Tanaka(40) = 180 bpm. */
#define CD_CONFIG_DEFAULT_AGE 40
#define CD_CONFIG_DEFAULT_MAX_IMPORT_BYTES (64u << 20)

/* One [profile] or [profile NAME] section. */
struct cd_config_profile {
	struct cd_profile profile;
	char **devices; /* NULL-terminated; device ids this profile applies to */
	/* What the section set, for the checks that span keys. */
	bool set_hr_max, set_age, set_zones, set_zones_bpm, set_model;
	unsigned line;      /* last line that touched it, for error messages */
	const char *origin; /* and its file or option; not owned, must outlive the config */
};

struct cd_config {
	char *listen; /* "ADDR:PORT" */
	unsigned http_max_connections; /* soft cap, 1..CD_HTTP_MAX_CONNECTIONS (api/http.h) */
	unsigned http_timeout_s;       /* a whole request within it; idle keep-alives closed */
	unsigned http_max_import_bytes; /* largest POST /sessions/import body */
	char *http_token_file;  /* [http] token_file: the bearer token is written here at start */
	bool http_read_token;   /* [http] read_access = token (default open) */
	bool http_allow_remote; /* [http] allow_remote: a non-loopback listen is allowed */
	unsigned http_max_event_streams; /* GET /events streams at once (DESIGN §9.2) */
	char *bus;    /* "system", "session", "none" or a D-Bus address */
	char *bus_manage_group; /* [bus] manage_group: may start/stop (and read) */
	char *bus_read_group;   /* [bus] read_group: may read properties, signals, GetSession */
	char *db_path;
	double storage_startup_check_max_mb; /* [storage] startup_check_max_mb; −1: 0 in the file */

	struct cd_config_profile default_profile; /* [profile]; name "default" */
	struct cd_config_profile *profiles;       /* [profile NAME] */
	size_t n_profiles;

	bool ble_enabled;
	char *ble_adapter;  /* NULL: the default adapter */
	char **ble_devices; /* NULL-terminated allow-list; NULL: any */
	double ble_forget_after_s; /* never-connected straps unseen this long are forgotten */
	unsigned ble_max_unknown;  /* at most this many never-connected straps are kept */

	bool ant_enabled;
	char *ant_device;   /* tty path or "auto" */
	char *ant_key_file; /* NULL: none configured */
	uint32_t *ant_devices; /* [ant] devices: 20-bit device numbers to hear; NULL: any */
	size_t n_ant_devices;
	bool ant_channels;     /* [ant] mode = channels: one channel per strap, not scan mode */
	unsigned ant_max_unknown;  /* §9.7: at most this many unlisted numbers tracked, not straps yet */
	double ant_forget_after_s; /* §9.7: such a number silent this long is forgotten */

	double idle_timeout_s;
	struct cd_engine_config engine; /* max_gap_s, window_s, stale_after_s */
	double commit_interval_s;

	/* [mqtt] (DESIGN §9.6): off while mqtt_url is NULL.  Host, port and TLS from the url. */
	char *mqtt_url;
	char *mqtt_host;            /* numeric IPv4/IPv6 address; "localhost" became 127.0.0.1 */
	unsigned mqtt_port;
	bool mqtt_tls;              /* mqtts:// */
	char *mqtt_username;        /* NULL: none */
	char *mqtt_password_file;   /* NULL: none; read once at start */
	char *mqtt_ca_file;         /* NULL: the system's CAs (mqtts://) */
	char *mqtt_topic_prefix;    /* NULL: cardiod/<hostname> */
	bool mqtt_discovery;
	char *mqtt_discovery_prefix;
	double mqtt_publish_interval_s;
	/* [goals] (DESIGN §9.4) */
	double goal_weekly_intensity_min; /* default 150 (WHO) */
	unsigned goal_weekly_sessions;    /* default 3 */
};

/* Defaults of DESIGN §6 (and §3 for the session keys). */
int cd_config_init(struct cd_config *c);
void cd_config_done(struct cd_config *c);

/*
 * Set one key.  origin names where the value came from ("FILE" or
 * "--option"); line is its line (0 for the command line).  Returns 0, or
 * -EINVAL with "ORIGIN:LINE: reason" (or "ORIGIN: reason") in *ret_error
 * (caller frees), or -ENOMEM.
 */
int cd_config_set(struct cd_config *c, const char *section, const char *key, const char *value,
		  const char *origin, unsigned line, char **ret_error);

/*
 * Parse INI text.  Returns 0, or -EINVAL with the first problem as
 * "FILENAME:LINE: reason" in *ret_error, or -ENOMEM.
 */
int cd_config_parse_string(struct cd_config *c, const char *text, const char *filename,
			   char **ret_error);

/*
 * Read and parse a file.  A missing file is fine (returns 0) unless
 * must_exist; an unreadable one is an error.
 */
int cd_config_load_file(struct cd_config *c, const char *path, bool must_exist,
			char **ret_error);

/*
 * After every source was applied: resolve defaults (age 40 when a profile
 * has neither hr_max nor age) and check each profile.  Returns 0 or
 * -EINVAL with the reason in *ret_error.
 */
int cd_config_finish(struct cd_config *c, const char *origin, char **ret_error);

/* The profile for a device: the [profile NAME] that lists it, else [profile]. */
const struct cd_profile *cd_config_profile_for(const struct cd_config *c, const char *device_id);
