/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "dbus-auth.h"
#include "dbus.h"
#include "log.h"

#define CACHE_SIZE 32
#define NAME_MAX_LEN 64 /* unique names are ":1.N" */

struct cd_dbus_auth {
	char *manage_group, *read_group;
	struct {
		char name[NAME_MAX_LEN];
		enum cd_dbus_access access;
	} cache[CACHE_SIZE];
	unsigned next; /* round-robin slot to replace */
};

int cd_dbus_auth_new(const char *manage_group, const char *read_group, struct cd_dbus_auth **ret)
{
	struct cd_dbus_auth *a = calloc(1, sizeof(*a));

	if (!a)
		return -ENOMEM;
	a->manage_group = strdup(manage_group ? manage_group : "cardiod");
	a->read_group = strdup(read_group ? read_group : "cardiod-readers");
	if (!a->manage_group || !a->read_group) {
		cd_dbus_auth_free(a);
		return -ENOMEM;
	}
	*ret = a;
	return 0;
}

struct cd_dbus_auth *cd_dbus_auth_free(struct cd_dbus_auth *a)
{
	if (!a)
		return NULL;
	free(a->manage_group);
	free(a->read_group);
	free(a);
	return NULL;
}

static const char *strna(const char *s)
{
	return s ? s : "(no name)";
}

static bool streq_ptr(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

enum cd_dbus_access cd_dbus_access_needed(const char *interface, const char *member)
{
	bool control = streq_ptr(member, "StartSession") || streq_ptr(member, "StopSession");

	if (streq_ptr(interface, "org.freedesktop.DBus.Introspectable") ||
	    streq_ptr(interface, "org.freedesktop.DBus.Peer"))
		return CD_DBUS_ACCESS_NONE;
	if (!interface) {
		/* No interface: sd-bus looks the member up in every interface of the object. */
		if (streq_ptr(member, "Introspect") || streq_ptr(member, "Ping") ||
		    streq_ptr(member, "GetMachineId"))
			return CD_DBUS_ACCESS_NONE;
		return control ? CD_DBUS_ACCESS_MANAGE : CD_DBUS_ACCESS_READ;
	}
	if (streq_ptr(interface, CD_DBUS_INTERFACE) && control)
		return CD_DBUS_ACCESS_MANAGE;
	/* Properties, ObjectManager, GetSession, and anything unknown. */
	return CD_DBUS_ACCESS_READ;
}

/* Whether uid's user is a member of group (primary or supplementary). */
static bool uid_in_group(uid_t uid, const char *group)
{
	_cleanup_free_ char *pwbuf = NULL, *grbuf = NULL;
	_cleanup_free_ gid_t *gids = NULL;
	struct passwd pw, *p = NULL;
	struct group gr, *g = NULL;
	long n = sysconf(_SC_GETPW_R_SIZE_MAX);
	size_t size = n > 0 ? (size_t)n : 16384;
	int ngroups = 64;

	pwbuf = malloc(size);
	grbuf = malloc(size < 65536 ? 65536 : size);
	if (!pwbuf || !grbuf)
		return false;
	if (getgrnam_r(group, &gr, grbuf, size < 65536 ? 65536 : size, &g) != 0 || !g)
		return false;
	if (getpwuid_r(uid, &pw, pwbuf, size, &p) != 0 || !p)
		return false;
	if (p->pw_gid == g->gr_gid)
		return true;
	for (int tries = 0; tries < 4; tries++) {
		int k = ngroups;
		gid_t *t = realloc(gids, (size_t)k * sizeof(gid_t));

		if (!t)
			return false;
		gids = t;
		if (getgrouplist(p->pw_name, p->pw_gid, gids, &k) >= 0) {
			for (int i = 0; i < k; i++)
				if (gids[i] == g->gr_gid)
					return true;
			return false;
		}
		ngroups = k > ngroups ? k : ngroups * 2;
	}
	return false;
}

enum cd_dbus_access cd_dbus_access_of_uid(const struct cd_dbus_auth *a, uid_t uid, uid_t own_uid)
{
	if (uid == 0 || uid == own_uid)
		return CD_DBUS_ACCESS_MANAGE;
	if (uid_in_group(uid, a->manage_group))
		return CD_DBUS_ACCESS_MANAGE;
	if (uid_in_group(uid, a->read_group))
		return CD_DBUS_ACCESS_READ;
	return CD_DBUS_ACCESS_NONE;
}

static enum cd_dbus_access sender_access(struct cd_dbus_auth *a, sd_bus_message *m)
{
	const char *sender = sd_bus_message_get_sender(m);
	_cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
	enum cd_dbus_access access;
	uid_t uid;
	int r;

	if (sender && strlen(sender) < NAME_MAX_LEN)
		for (size_t i = 0; i < CACHE_SIZE; i++)
			if (strcmp(a->cache[i].name, sender) == 0)
				return a->cache[i].access;

	/* dbus-daemon reports the uid a peer connected with; sd-bus files it as the euid. */
	r = sd_bus_query_sender_creds(m, SD_BUS_CREDS_EUID, &creds);
	if (r >= 0)
		r = sd_bus_creds_get_euid(creds, &uid);
	if (r < 0) {
		log_debug_errno(r, "D-Bus: cannot learn who %s is: %m; denying", strna(sender));
		return CD_DBUS_ACCESS_NONE;
	}
	access = cd_dbus_access_of_uid(a, uid, geteuid());
	log_debug("D-Bus: %s is uid %u, access %s", strna(sender), (unsigned)uid,
		  access == CD_DBUS_ACCESS_MANAGE ? "manage"
		  : access == CD_DBUS_ACCESS_READ ? "read"
						  : "none");
	if (sender && strlen(sender) < NAME_MAX_LEN) {
		strcpy(a->cache[a->next].name, sender);
		a->cache[a->next].access = access;
		a->next = (a->next + 1) % CACHE_SIZE;
	}
	return access;
}

int cd_dbus_auth_filter(struct cd_dbus_auth *a, sd_bus_message *m)
{
	const char *path = sd_bus_message_get_path(m);
	size_t n = strlen(CD_DBUS_PATH);
	enum cd_dbus_access need;
	int r;

	if (!a || !sd_bus_message_is_method_call(m, NULL, NULL) || !path)
		return 0;
	if (strncmp(path, CD_DBUS_PATH, n) != 0 || (path[n] != '\0' && path[n] != '/'))
		return 0; /* not ours: sd-bus answers UnknownObject */
	need = cd_dbus_access_needed(sd_bus_message_get_interface(m), sd_bus_message_get_member(m));
	if (need == CD_DBUS_ACCESS_NONE || sender_access(a, m) >= need)
		return 0;
	if (need == CD_DBUS_ACCESS_MANAGE)
		r = sd_bus_reply_method_errorf(m, SD_BUS_ERROR_ACCESS_DENIED,
					       "Starting and stopping sessions is for root and "
					       "group %s",
					       a->manage_group);
	else
		r = sd_bus_reply_method_errorf(m, SD_BUS_ERROR_ACCESS_DENIED,
					       "Heart-rate data is for root and groups %s and %s",
					       a->manage_group, a->read_group);
	if (r < 0)
		log_debug_errno(r, "D-Bus: cannot send AccessDenied: %m");
	return 1;
}
