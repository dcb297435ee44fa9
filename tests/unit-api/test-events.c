/* SPDX-License-Identifier: MIT */
/*
 * The front-end event hub (api/events.h) without a daemon: numbering,
 * the SSE text of each event type, the ring, subscribers and the
 * snapshot, against a fake snapshot provider.
 */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "events.h"

static unsigned seen;
static uint64_t seen_last;

static void on_record(const struct cd_event_record *r, void *userdata)
{
	seen++;
	seen_last = r->id;
	(void)userdata;
}

static const struct cd_event hr = {
	.type = CD_EVENT_HR,
	.device = "ant-12345",
	.session = 7,
	.t_us = 1764756000123000ULL, /* 2025-12-03T10:00:00.123Z */
	.bpm = 142,
	.zone = 3,
	.rr_ms = (const double[]){ 420.5, 423 },
	.n_rr = 2,
};

static cJSON *data_of(const struct cd_event_record *r)
{
	char *d = strndup(r->data, r->data_len);
	cJSON *j = cJSON_Parse(d);

	free(d);
	return j;
}

static void test_numbering_and_text(void)
{
	struct cd_events *e = NULL;
	const struct cd_event_record *r;
	cJSON *j;
	unsigned sub;

	CHECK_INT(cd_events_new(4, &e), 0);
	CHECK_INT(cd_events_next_id(e), 1);
	sub = cd_events_subscribe(e, on_record, NULL);
	CHECK(sub != 0);

	CHECK_INT(cd_events_publish(e, &hr), 1);
	r = cd_events_get(e, 1);
	CHECK(r != NULL);
	CHECK(r && strncmp(r->text, "id: 1\nevent: hr\ndata: {", 23) == 0);
	CHECK(r && r->len >= 2 && strcmp(r->text + r->len - 2, "\n\n") == 0);
	CHECK(r && !memchr(r->data, '\n', r->data_len)); /* one data line */
	j = r ? data_of(r) : NULL;
	CHECK(j != NULL);
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "device")), "ant-12345");
	CHECK_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(j, "session")), 7);
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "t")), "2025-12-03T10:00:00.123Z");
	CHECK_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(j, "bpm")), 142);
	CHECK_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(j, "zone")), 3);
	CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(j, "rr_ms")), 2);
	CHECK_INT(cJSON_GetArraySize(j), 6);
	cJSON_Delete(j);

	/* session null, the other types and their keys */
	struct cd_event z = { .type = CD_EVENT_ZONE, .device = "sim-1", .old_zone = 2, .new_zone = 3 };
	struct cd_event s = { .type = CD_EVENT_SESSION, .device = "sim-1", .session = 9 };
	struct cd_event m = { .type = CD_EVENT_MILESTONE, .device = "sim-1", .session = 9,
			      .milestone = "mvpa_20" };
	struct cd_event d = { .type = CD_EVENT_DEVICE, .device = "sim-1", .name = "Strap",
			      .transport = "sim", .connected = true, .battery_pct = -1 };
	CHECK_INT(cd_events_publish(e, &z), 2);
	CHECK_INT(cd_events_publish(e, &s), 3);
	CHECK_INT(cd_events_publish(e, &m), 4);
	CHECK_INT(cd_events_publish(e, &d), 5);
	CHECK_INT(seen, 5);
	CHECK_INT(seen_last, 5);

	r = cd_events_get(e, 2);
	j = r ? data_of(r) : NULL;
	CHECK(r && strncmp(r->text, "id: 2\nevent: zone\n", 18) == 0);
	CHECK(cJSON_IsNull(cJSON_GetObjectItem(j, "session")));
	CHECK_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(j, "old")), 2);
	CHECK_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(j, "new")), 3);
	cJSON_Delete(j);
	r = cd_events_get(e, 3);
	j = r ? data_of(r) : NULL;
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "state")), "ended");
	CHECK_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(j, "id")), 9);
	cJSON_Delete(j);
	r = cd_events_get(e, 4);
	j = r ? data_of(r) : NULL;
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "name")), "mvpa_20");
	cJSON_Delete(j);
	r = cd_events_get(e, 5);
	j = r ? data_of(r) : NULL;
	CHECK(cJSON_IsNull(cJSON_GetObjectItem(j, "battery_pct")));
	CHECK(cJSON_IsTrue(cJSON_GetObjectItem(j, "connected")));
	CHECK(cJSON_IsFalse(cJSON_GetObjectItem(j, "stale")));
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(j, "transport")), "sim");
	cJSON_Delete(j);

	/* The ring keeps the last 4: id 1 is gone, 2..5 remain, 6 does not exist yet. */
	CHECK(cd_events_get(e, 1) == NULL);
	CHECK(cd_events_get(e, 2) != NULL);
	CHECK(cd_events_get(e, 5) != NULL);
	CHECK(cd_events_get(e, 6) == NULL);
	CHECK(cd_events_get(e, 0) == NULL);
	/* Offsets count every byte published before each record. */
	CHECK_INT(cd_events_get(e, 5)->offset + cd_events_get(e, 5)->len, cd_events_bytes(e));

	cd_events_unsubscribe(e, sub);
	CHECK_INT(cd_events_publish(e, &hr), 6);
	CHECK_INT(seen, 5);
	/* An unknown type is refused and takes no id. */
	struct cd_event bad = { .type = _CD_EVENT_MAX };
	CHECK_INT(cd_events_publish(e, &bad), 0);
	CHECK_INT(cd_events_next_id(e), 7);
	cd_events_free(e);
}

static void fake_snapshot(void *userdata, cd_event_emit_fn emit, void *ctx)
{
	struct cd_event d1 = { .type = CD_EVENT_DEVICE, .device = "sim-1", .transport = "sim",
			       .connected = true, .battery_pct = 80 };
	struct cd_event d2 = { .type = CD_EVENT_DEVICE, .device = "ble-aa:bb:cc:dd:ee:ff",
			       .transport = "ble", .battery_pct = -1 };
	struct cd_event s1 = { .type = CD_EVENT_SESSION, .device = "sim-1", .session = 3,
			       .active = true };

	(*(unsigned *)userdata)++;
	emit(&d1, ctx);
	emit(&d2, ctx);
	emit(&s1, ctx);
}

static void test_snapshot(void)
{
	struct cd_events *e = NULL;
	unsigned calls = 0;
	char *text = NULL;
	size_t len = 0;

	CHECK_INT(cd_events_new(0, &e), 0);
	CHECK_INT(cd_events_snapshot_text(e, NULL, &text, &len), 0);
	CHECK(text && len == 0 && text[0] == '\0'); /* no provider: empty */
	free(text);

	cd_events_set_snapshot(e, fake_snapshot, &calls);
	CHECK_INT(cd_events_snapshot_text(e, NULL, &text, &len), 0);
	CHECK_INT(calls, 1);
	CHECK(text && strlen(text) == len);
	CHECK(text && !strstr(text, "id: ")); /* not part of the sequence */
	CHECK(text && strncmp(text, "event: device\ndata: {\"id\":\"sim-1\"", 33) == 0);
	CHECK(text && strstr(text, "ble-aa:bb:cc:dd:ee:ff") != NULL);
	CHECK(text && strstr(text, "event: session\ndata: {\"id\":3,\"device\":\"sim-1\","
				   "\"state\":\"active\"}\n\n") != NULL);
	free(text);

	/* Filtered: only that device's events. */
	CHECK_INT(cd_events_snapshot_text(e, "ble-aa:bb:cc:dd:ee:ff", &text, &len), 0);
	CHECK(text && strstr(text, "sim-1") == NULL && strstr(text, "ble-aa") != NULL);
	free(text);
	CHECK_INT(cd_events_next_id(e), 1); /* a snapshot takes no ids */
	cd_events_free(e);
}

int main(void)
{
	test_numbering_and_text();
	test_snapshot();
	return check_exit("test-events");
}
