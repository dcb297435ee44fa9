/* SPDX-License-Identifier: MIT */
/*
 * api/dbus-auth (DESIGN §9.7): what each call needs, and what a uid may
 * do.  Group membership proper is exercised by test-dbus-policy.py (as
 * root, with real users); here: root, the daemon's own uid, a uid no user
 * has, and groups that do not exist.
 */
#include <errno.h>
#include <unistd.h>

#include "check.h"
#include "cleanup.h"
#include "dbus-auth.h"
#include "dbus.h"

static void test_needed(void)
{
	static const struct {
		const char *interface, *member;
		enum cd_dbus_access need;
	} cases[] = {
		{ "org.freedesktop.DBus.Introspectable", "Introspect", CD_DBUS_ACCESS_NONE },
		{ "org.freedesktop.DBus.Peer", "Ping", CD_DBUS_ACCESS_NONE },
		{ "org.freedesktop.DBus.Properties", "Get", CD_DBUS_ACCESS_READ },
		{ "org.freedesktop.DBus.Properties", "GetAll", CD_DBUS_ACCESS_READ },
		{ "org.freedesktop.DBus.Properties", "Set", CD_DBUS_ACCESS_READ },
		{ "org.freedesktop.DBus.ObjectManager", "GetManagedObjects", CD_DBUS_ACCESS_READ },
		{ CD_DBUS_INTERFACE, "GetSession", CD_DBUS_ACCESS_READ },
		{ CD_DBUS_INTERFACE, "StartSession", CD_DBUS_ACCESS_MANAGE },
		{ CD_DBUS_INTERFACE, "StopSession", CD_DBUS_ACCESS_MANAGE },
		{ CD_DBUS_INTERFACE, "NoSuchMethod", CD_DBUS_ACCESS_READ },
		{ "org.example.Other", "StartSession", CD_DBUS_ACCESS_READ },
		/* No interface: sd-bus finds the member in any interface of the object. */
		{ NULL, "StartSession", CD_DBUS_ACCESS_MANAGE },
		{ NULL, "StopSession", CD_DBUS_ACCESS_MANAGE },
		{ NULL, "GetSession", CD_DBUS_ACCESS_READ },
		{ NULL, "Get", CD_DBUS_ACCESS_READ },
		{ NULL, "GetManagedObjects", CD_DBUS_ACCESS_READ },
		{ NULL, "Introspect", CD_DBUS_ACCESS_NONE },
		{ NULL, "Ping", CD_DBUS_ACCESS_NONE },
		{ NULL, NULL, CD_DBUS_ACCESS_READ },
	};

	for (size_t i = 0; i < ELEMENTSOF(cases); i++)
		CHECK_INT(cd_dbus_access_needed(cases[i].interface, cases[i].member), cases[i].need);
}

static void test_uids(void)
{
	struct cd_dbus_auth *a = NULL;
	uid_t nobody_uid = 4000000000u; /* no user has it */

	CHECK_INT(cd_dbus_auth_new("cdtest-no-such-group", "cdtest-no-such-readers", &a), 0);
	if (!a)
		return;
	CHECK_INT(cd_dbus_access_of_uid(a, 0, 1234), CD_DBUS_ACCESS_MANAGE);
	CHECK_INT(cd_dbus_access_of_uid(a, 1234, 1234), CD_DBUS_ACCESS_MANAGE);
	CHECK_INT(cd_dbus_access_of_uid(a, nobody_uid, 1234), CD_DBUS_ACCESS_NONE);
	if (getuid() != 0)
		CHECK_INT(cd_dbus_access_of_uid(a, getuid(), 0), CD_DBUS_ACCESS_NONE);
	cd_dbus_auth_free(a);
	/* Defaults. */
	CHECK_INT(cd_dbus_auth_new(NULL, NULL, &a), 0);
	CHECK_INT(cd_dbus_access_of_uid(a, nobody_uid, 1234), CD_DBUS_ACCESS_NONE);
	cd_dbus_auth_free(a);
	CHECK(cd_dbus_auth_filter(NULL, NULL) == 0);
}

int main(void)
{
	test_needed();
	test_uids();
	return check_exit("test-dbus-auth");
}
