/* SPDX-License-Identifier: MIT */
/*
 * Who may do what on org.cardiod.Cardiod1 (DESIGN §9.7), checked by the
 * service itself, so that a bus without units/org.cardiod.Cardiod1.conf
 * (--bus ADDRESS, a session bus) is no hole:
 *   - reading (org.freedesktop.DBus.Properties, ObjectManager, GetSession):
 *     root, the daemon's own user, members of the manage and read groups;
 *   - StartSession and StopSession: root, the daemon's own user, members
 *     of the manage group;
 *   - Introspectable and Peer: everyone (no data).
 * Everyone else gets org.freedesktop.DBus.Error.AccessDenied.  Group
 * membership is the user database's (getgrouplist), as dbus-daemon's own
 * group="…" rules see it.  Signals are broadcasts: only the bus policy can
 * keep them from outsiders.
 */
#pragma once

#include <systemd/sd-bus.h>

enum cd_dbus_access {
	CD_DBUS_ACCESS_NONE,
	CD_DBUS_ACCESS_READ,
	CD_DBUS_ACCESS_MANAGE,
};

struct cd_dbus_auth;

/* Group names: NULL for the defaults "cardiod" and "cardiod-readers". */
int cd_dbus_auth_new(const char *manage_group, const char *read_group, struct cd_dbus_auth **ret);
struct cd_dbus_auth *cd_dbus_auth_free(struct cd_dbus_auth *a);

/* What a method call needs, from its interface and member (pure). */
enum cd_dbus_access cd_dbus_access_needed(const char *interface, const char *member);

/* What uid may do: root and own_uid manage, else by its groups. */
enum cd_dbus_access cd_dbus_access_of_uid(const struct cd_dbus_auth *a, uid_t uid, uid_t own_uid);

/*
 * For the bus filter: 0 to let m through, 1 when m was a method call to
 * one of our objects that its sender may not make and was answered with
 * AccessDenied.  A sender's access is looked up once (one
 * GetConnectionCredentials round trip to the bus) and remembered by its
 * unique name, which the bus never hands out again.
 */
int cd_dbus_auth_filter(struct cd_dbus_auth *a, sd_bus_message *m);
