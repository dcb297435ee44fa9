/* SPDX-License-Identifier: MIT */
/*
 * The event hub of api/events.h: a ring of formatted records and a short
 * list of subscribers.  Each event is formatted once (JSON with cJSON,
 * then the SSE framing) when it is published, so N followers cost N
 * memcpy()s, not N encodings.
 *
 * The records' strings (SSE text and device id) are not malloc'd one by
 * one: 1024 small blocks freed in publication order, interleaved with
 * everything else the daemon allocates, left holes all over the heap that
 * malloc_trim() could not return (bench/footprint: about 500 KiB of heap
 * with 8 straps).  They are appended instead to blocks of
 * CD_EVENTS_BLOCK bytes mapped for the purpose; the ring frees records in
 * the order it wrote them, so a block is unmapped as soon as its last
 * record leaves the ring, and the ring costs what its text weighs.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "cleanup.h"
#include "cleanup-json.h"
#include "events.h"
#include "http-parse.h"


#define CD_EVENTS_BLOCK (64u * 1024u)

/* A mapping that records' strings are appended to; unmapped when none is left. */
struct cd_events_block {
	size_t size; /* mapped bytes, this header included */
	size_t used;
	size_t live; /* records whose strings are here */
};

struct subscriber {
	unsigned id;
	void (*callback)(const struct cd_event_record *rec, void *userdata);
	void *userdata;
};

struct cd_events {
	struct cd_event_record *ring;
	size_t size;     /* slots */
	struct cd_events_block *block; /* where new strings go; NULL before the first */
	uint64_t next;   /* id of the next event; ids start at 1 */
	uint64_t bytes;  /* SSE bytes published */
	struct subscriber *subs;
	size_t n_subs;
	unsigned last_sub;
	void (*snapshot)(void *userdata, cd_event_emit_fn emit, void *ctx);
	void *snapshot_userdata;
};

static const char *const type_names[_CD_EVENT_MAX] = {
	[CD_EVENT_HR] = "hr",
	[CD_EVENT_ZONE] = "zone",
	[CD_EVENT_SESSION] = "session",
	[CD_EVENT_MILESTONE] = "milestone",
	[CD_EVENT_DEVICE] = "device",
};

const char *cd_event_type_to_string(enum cd_event_type t)
{
	if ((unsigned)t >= _CD_EVENT_MAX)
		return NULL;
	return type_names[t];
}

int cd_events_new(size_t ring_size, struct cd_events **ret)
{
	struct cd_events *e = calloc(1, sizeof(*e));

	if (!e)
		return -ENOMEM;
	e->size = ring_size ? ring_size : CD_EVENTS_RING_DEFAULT;
	e->ring = calloc(e->size, sizeof(*e->ring));
	if (!e->ring) {
		free(e);
		return -ENOMEM;
	}
	e->next = 1;
	*ret = e;
	return 0;
}

static void block_unmap(struct cd_events_block *b)
{
	munmap(b, b->size);
}

/* n bytes for a record's strings, from the current block or a new one; NULL on OOM. */
static char *block_alloc(struct cd_events *e, size_t n, struct cd_events_block **ret_block)
{
	struct cd_events_block *b = e->block;
	size_t head = sizeof(*b), size;
	void *p;

	if (!b || b->size - b->used < n) {
		size = head + n > CD_EVENTS_BLOCK ? (head + n + 4095) & ~(size_t)4095 : CD_EVENTS_BLOCK;
		p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return NULL;
		if (b && b->live == 0)
			block_unmap(b); /* every record it held is gone */
		b = p;
		*b = (struct cd_events_block){ .size = size, .used = head };
		e->block = b;
	}
	p = (char *)b + b->used;
	b->used += n;
	b->live++;
	*ret_block = b;
	return p;
}

static void record_clear(struct cd_events *e, struct cd_event_record *r)
{
	struct cd_events_block *b = r->block;

	if (b && --b->live == 0 && b != e->block)
		block_unmap(b);
	*r = (struct cd_event_record){};
}

struct cd_events *cd_events_free(struct cd_events *e)
{
	if (!e)
		return NULL;
	for (size_t i = 0; i < e->size; i++)
		record_clear(e, &e->ring[i]);
	if (e->block)
		block_unmap(e->block);
	free(e->ring);
	free(e->subs);
	free(e);
	return NULL;
}

static bool add_string_or_null(cJSON *o, const char *key, const char *v)
{
	return v ? cJSON_AddStringToObject(o, key, v) != NULL : cJSON_AddNullToObject(o, key) != NULL;
}

static bool add_id_or_null(cJSON *o, const char *key, uint64_t id)
{
	return id ? cJSON_AddNumberToObject(o, key, (double)id) != NULL
		  : cJSON_AddNullToObject(o, key) != NULL;
}

char *cd_event_to_json(const struct cd_event *ev)
{
	_cleanup_(cJSON_Deletep) cJSON *o = cJSON_CreateObject();
	char t[32];
	cJSON *rr;
	bool ok = o != NULL;

	if (!ok)
		return NULL;
	switch (ev->type) {
	case CD_EVENT_HR:
		if (cd_http_format_time(ev->t_us, t, sizeof(t)) < 0)
			return NULL;
		ok = add_string_or_null(o, "device", ev->device) &&
		     add_id_or_null(o, "session", ev->session) &&
		     cJSON_AddStringToObject(o, "t", t) && cJSON_AddNumberToObject(o, "bpm", ev->bpm) &&
		     cJSON_AddNumberToObject(o, "zone", ev->zone);
		if (!ok)
			return NULL;
		rr = cJSON_CreateDoubleArray(ev->rr_ms ? ev->rr_ms : (const double[]){ 0 },
					     (int)ev->n_rr);
		if (!rr || !cJSON_AddItemToObject(o, "rr_ms", rr)) {
			cJSON_Delete(rr);
			return NULL;
		}
		break;
	case CD_EVENT_ZONE:
		ok = add_string_or_null(o, "device", ev->device) &&
		     add_id_or_null(o, "session", ev->session) &&
		     cJSON_AddNumberToObject(o, "old", ev->old_zone) &&
		     cJSON_AddNumberToObject(o, "new", ev->new_zone);
		break;
	case CD_EVENT_SESSION:
		ok = add_id_or_null(o, "id", ev->session) &&
		     add_string_or_null(o, "device", ev->device) &&
		     cJSON_AddStringToObject(o, "state", ev->active ? "active" : "ended");
		break;
	case CD_EVENT_MILESTONE:
		ok = add_id_or_null(o, "session", ev->session) &&
		     add_string_or_null(o, "device", ev->device) &&
		     add_string_or_null(o, "name", ev->milestone);
		break;
	case CD_EVENT_DEVICE:
		ok = add_string_or_null(o, "id", ev->device) &&
		     add_string_or_null(o, "name", ev->name ? ev->name : ev->device) &&
		     add_string_or_null(o, "transport", ev->transport) &&
		     cJSON_AddBoolToObject(o, "connected", ev->connected) &&
		     cJSON_AddBoolToObject(o, "stale", ev->stale) &&
		     (ev->battery_pct >= 0 ? cJSON_AddNumberToObject(o, "battery_pct",
								     ev->battery_pct) != NULL
					   : cJSON_AddNullToObject(o, "battery_pct") != NULL);
		break;
	default:
		return NULL;
	}
	if (!ok)
		return NULL;
	return cJSON_PrintUnformatted(o);
}

/* "id: N\n" (when id > 0) "event: T\ndata: JSON\n\n"; NULL on OOM. */
static char *format_sse(uint64_t id, const struct cd_event *ev, size_t *ret_len,
			size_t *ret_data_off, size_t *ret_data_len)
{
	_cleanup_free_ char *json = cd_event_to_json(ev);
	char head[64];
	int n;
	size_t jl, len;
	char *s;

	if (!json)
		return NULL;
	if (id)
		n = snprintf(head, sizeof(head), "id: %" PRIu64 "\nevent: %s\ndata: ", id,
			     cd_event_type_to_string(ev->type));
	else
		n = snprintf(head, sizeof(head), "event: %s\ndata: ", cd_event_type_to_string(ev->type));
	if (n < 0 || (size_t)n >= sizeof(head))
		return NULL;
	jl = strlen(json);
	len = (size_t)n + jl + 2;
	s = malloc(len + 1);
	if (!s)
		return NULL;
	memcpy(s, head, (size_t)n);
	memcpy(s + n, json, jl);
	memcpy(s + n + jl, "\n\n", 3);
	*ret_len = len;
	if (ret_data_off)
		*ret_data_off = (size_t)n;
	if (ret_data_len)
		*ret_data_len = jl;
	return s;
}

uint64_t cd_events_publish(struct cd_events *e, const struct cd_event *ev)
{
	struct cd_event_record *r;
	struct cd_events_block *block;
	_cleanup_free_ char *sse = NULL;
	size_t len, off, dl, dev_len;
	char *text, *device = NULL;

	if (!e || !ev || (unsigned)ev->type >= _CD_EVENT_MAX)
		return 0;
	sse = format_sse(e->next, ev, &len, &off, &dl);
	if (!sse)
		return 0;
	/* The slot's old record first, so its block may go before a new one is mapped. */
	r = &e->ring[e->next % e->size];
	record_clear(e, r);
	dev_len = ev->device ? strlen(ev->device) + 1 : 0;
	text = block_alloc(e, len + 1 + dev_len, &block);
	if (!text)
		return 0;
	memcpy(text, sse, len + 1);
	if (ev->device)
		device = memcpy(text + len + 1, ev->device, dev_len);
	*r = (struct cd_event_record){
		.id = e->next,
		.type = ev->type,
		.device = device,
		.block = block,
		.text = text,
		.len = len,
		.data = text + off,
		.data_len = dl,
		.offset = e->bytes,
	};
	e->next++;
	e->bytes += len;
	/* Index loop: a callback may unsubscribe (itself or others). */
	r->event = ev;
	for (size_t i = 0; i < e->n_subs; i++)
		e->subs[i].callback(r, e->subs[i].userdata);
	r->event = NULL;
	return r->id;
}

unsigned cd_events_subscribe(struct cd_events *e,
			     void (*callback)(const struct cd_event_record *rec, void *userdata),
			     void *userdata)
{
	struct subscriber *s;

	if (!e || !callback)
		return 0;
	s = realloc(e->subs, (e->n_subs + 1) * sizeof(*s));
	if (!s)
		return 0;
	e->subs = s;
	if (++e->last_sub == 0)
		e->last_sub = 1;
	e->subs[e->n_subs++] = (struct subscriber){ e->last_sub, callback, userdata };
	return e->last_sub;
}

void cd_events_unsubscribe(struct cd_events *e, unsigned id)
{
	if (!e)
		return;
	for (size_t i = 0; i < e->n_subs; i++)
		if (e->subs[i].id == id) {
			memmove(&e->subs[i], &e->subs[i + 1], (e->n_subs - i - 1) * sizeof(*e->subs));
			e->n_subs--;
			return;
		}
}

uint64_t cd_events_next_id(const struct cd_events *e)
{
	return e->next;
}

uint64_t cd_events_bytes(const struct cd_events *e)
{
	return e->bytes;
}

const struct cd_event_record *cd_events_get(const struct cd_events *e, uint64_t id)
{
	const struct cd_event_record *r;

	if (!e || id == 0 || id >= e->next || e->next - id > e->size)
		return NULL;
	r = &e->ring[id % e->size];
	return r->id == id ? r : NULL;
}

void cd_events_set_snapshot(struct cd_events *e,
			    void (*provider)(void *userdata, cd_event_emit_fn emit, void *ctx),
			    void *userdata)
{
	e->snapshot = provider;
	e->snapshot_userdata = userdata;
}

struct snapshot_ctx {
	const char *device;
	char *buf;
	size_t len, cap;
	bool failed;
};

static void snapshot_emit(const struct cd_event *ev, void *userdata)
{
	struct snapshot_ctx *c = userdata;
	_cleanup_free_ char *s = NULL;
	size_t len;

	if (c->failed)
		return;
	if (c->device && (!ev->device || strcmp(ev->device, c->device) != 0))
		return;
	s = format_sse(0, ev, &len, NULL, NULL);
	if (!s) {
		c->failed = true;
		return;
	}
	if (c->cap - c->len < len + 1) {
		size_t cap = (c->cap ? c->cap * 2 : 1024);
		char *b;

		while (cap - c->len < len + 1)
			cap *= 2;
		b = realloc(c->buf, cap);
		if (!b) {
			c->failed = true;
			return;
		}
		c->buf = b;
		c->cap = cap;
	}
	memcpy(c->buf + c->len, s, len + 1);
	c->len += len;
}

int cd_events_snapshot_text(struct cd_events *e, const char *device, char **ret, size_t *ret_len)
{
	struct snapshot_ctx c = { .device = device };

	if (e->snapshot)
		e->snapshot(e->snapshot_userdata, snapshot_emit, &c);
	if (c.failed) {
		free(c.buf);
		return -ENOMEM;
	}
	if (!c.buf && !(c.buf = strdup(""))) /* an empty snapshot is still a string */
		return -ENOMEM;
	*ret = c.buf;
	*ret_len = c.len;
	return 0;
}
