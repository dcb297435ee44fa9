/* SPDX-License-Identifier: MIT */
/* Unit tests for api/http-parse.c: the pure request logic of the HTTP API. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cleanup.h"
#include "dose.h"
#include "http-auth.h"
#include "http-parse.h"
#include "import.h"

static void test_host(void)
{
	static const char *const good[] = {
		"localhost", "LOCALHOST", "localhost:8080", "localhost:0", "localhost:65535",
		"app.localhost", "a.b-c.localhost:1", "Widget.LocalHost",
		"127.0.0.1", "127.0.0.1:8080", "127.1.2.3", "127.255.255.255:80",
		"[::1]", "[::1]:8080", "[0:0:0:0:0:0:0:1]:80",
	};
	static const char *const bad[] = {
		"", "evil.example", "evil.example:8080", "localhost.evil.example",
		"localhost6", "localhost6.localdomain6", "xlocalhost", "-a.localhost",
		"a-.localhost", ".localhost", "a..localhost", "localhost.", "localhost:",
		"localhost:65536", "localhost:080080", "localhost:-1", "localhost:80:80",
		"localhost:8x", "localhost :80", " localhost", "loc%61lhost",
		"128.0.0.1", "10.0.0.1", "0.0.0.0", "127.1", "127.0.0.01", "0x7f.0.0.1",
		"2130706433", "127.0.0.1.", "127.0.0.1.nip.io", "[::2]", "[::]", "[::1",
		"::1", "[::1]x", "[::1]:", "[::1]:99999", "[::ffff:127.0.0.1]", "[fe80::1%lo]",
		"[::1]:80:80", "user@localhost",
	};

	for (size_t i = 0; i < ELEMENTSOF(good); i++)
		if (!cd_http_host_is_loopback(good[i])) {
			fprintf(stderr, "host should pass: \"%s\"\n", good[i]);
			CHECK(false);
		}
	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		if (cd_http_host_is_loopback(bad[i])) {
			fprintf(stderr, "host should fail: \"%s\"\n", bad[i]);
			CHECK(false);
		}
	CHECK(!cd_http_host_is_loopback(NULL));

	/* A label of 64 characters is not a DNS label. */
	char longname[128];
	memset(longname, 'a', 64);
	strcpy(longname + 64, ".localhost");
	CHECK(!cd_http_host_is_loopback(longname));
	strcpy(longname + 63, ".localhost");
	CHECK(cd_http_host_is_loopback(longname));
}

static void test_origin(void)
{
	CHECK(cd_http_origin_is_loopback("http://localhost:8080"));
	CHECK(cd_http_origin_is_loopback("http://127.0.0.1"));
	CHECK(cd_http_origin_is_loopback("https://[::1]:8443"));
	CHECK(cd_http_origin_is_loopback("HTTP://overlay.localhost:8080"));
	CHECK(!cd_http_origin_is_loopback("null"));
	CHECK(!cd_http_origin_is_loopback("http://evil.example"));
	CHECK(!cd_http_origin_is_loopback("http://localhost.evil.example"));
	CHECK(!cd_http_origin_is_loopback("http://localhost:8080/"));
	CHECK(!cd_http_origin_is_loopback("http://evil.example@localhost"));
	CHECK(!cd_http_origin_is_loopback("file://localhost"));
	CHECK(!cd_http_origin_is_loopback("ws://localhost"));
	CHECK(!cd_http_origin_is_loopback("localhost"));
	CHECK(!cd_http_origin_is_loopback(""));
	CHECK(!cd_http_origin_is_loopback("http://"));
}

static void test_content_type(void)
{
	CHECK(cd_http_content_type_is_json("application/json"));
	CHECK(cd_http_content_type_is_json("Application/JSON"));
	CHECK(cd_http_content_type_is_json("application/json; charset=utf-8"));
	CHECK(cd_http_content_type_is_json("application/json;charset=UTF-8"));
	CHECK(cd_http_content_type_is_json("application/json; charset=\"utf-8\""));
	CHECK(cd_http_content_type_is_json(" application/json "));
	CHECK(!cd_http_content_type_is_json(NULL));
	CHECK(!cd_http_content_type_is_json(""));
	CHECK(!cd_http_content_type_is_json("text/plain"));
	CHECK(!cd_http_content_type_is_json("application/x-www-form-urlencoded"));
	CHECK(!cd_http_content_type_is_json("multipart/form-data; boundary=x"));
	CHECK(!cd_http_content_type_is_json("application/jsonp"));
	CHECK(!cd_http_content_type_is_json("application/json-patch+json"));
	CHECK(!cd_http_content_type_is_json("application/json; charset=latin1"));
	CHECK(!cd_http_content_type_is_json("application/json, text/plain"));
	CHECK(!cd_http_content_type_is_json("application/json; charset=\"utf-8"));
}

static void test_unescape(void)
{
	char *s = NULL;

	CHECK_INT(cd_http_unescape("a%20b+c", 7, true, &s), 0);
	CHECK_STR(s, "a b c");
	free(s);
	CHECK_INT(cd_http_unescape("a%20b+c", 7, false, &s), 0);
	CHECK_STR(s, "a b+c");
	free(s);
	CHECK_INT(cd_http_unescape("%2f%2F%7e", 9, false, &s), 0);
	CHECK_STR(s, "//~");
	free(s);
	CHECK_INT(cd_http_unescape("", 0, false, &s), 0);
	CHECK_STR(s, "");
	free(s);
	s = NULL;
	CHECK_INT(cd_http_unescape("%", 1, false, &s), -EINVAL);
	CHECK_INT(cd_http_unescape("%2", 2, false, &s), -EINVAL);
	CHECK_INT(cd_http_unescape("%zz", 3, false, &s), -EINVAL);
	CHECK_INT(cd_http_unescape("a%00b", 5, false, &s), -EINVAL);
	CHECK_INT(cd_http_unescape("a\0b", 3, false, &s), -EINVAL);
	CHECK(s == NULL);
}

static void test_time(void)
{
	char buf[32];
	uint64_t us;

	CHECK_INT(cd_http_parse_time("1970-01-01T00:00:01Z", &us), 0);
	CHECK_INT(us, 1000000);
	CHECK_INT(cd_http_parse_time("2024-05-01T10:20:30.123Z", &us), 0);
	CHECK_INT(us, UINT64_C(1714558830123000));
	CHECK_INT(cd_http_parse_time("2024-05-01T10:20:30.123456Z", &us), 0);
	CHECK_INT(us, UINT64_C(1714558830123456));
	CHECK_INT(cd_http_parse_time("2024-05-01T10:20:30.123456789Z", &us), 0);
	CHECK_INT(us, UINT64_C(1714558830123456));
	CHECK_INT(cd_http_parse_time("2024-05-01t10:20:30.5z", &us), 0);
	CHECK_INT(us, UINT64_C(1714558830500000));
	CHECK_INT(cd_http_parse_time("2024-05-01T10:20:30+00:00", &us), 0);
	CHECK_INT(us, UINT64_C(1714558830000000));
	CHECK_INT(cd_http_parse_time("2024-02-29T00:00:00Z", &us), 0);
	CHECK_INT(cd_http_parse_time("2000-02-29T00:00:00Z", &us), 0);
	CHECK_INT(cd_http_parse_time("9999-12-31T23:59:59.999999Z", &us), 0);
	CHECK_INT(cd_http_parse_time("1714558830", &us), 0);
	CHECK_INT(us, UINT64_C(1714558830000000));

	static const char *const bad[] = {
		"", "0", "-1", "+5", "1e9", " 1", "1714558830.5", "99999999999999999999",
		"253402300800", "2024-05-01", "2024-05-01T10:20:30", "2024-05-01 10:20:30Z",
		"2024-13-01T00:00:00Z", "2024-00-01T00:00:00Z", "2023-02-29T00:00:00Z",
		"1900-02-29T00:00:00Z", "2024-04-31T00:00:00Z", "2024-05-01T24:00:00Z",
		"2024-05-01T10:60:00Z", "2024-05-01T10:20:60Z", "2024-05-01T10:20:30.Z",
		"2024-05-01T10:20:30.1234567890Z", "2024-05-01T10:20:30+01:00",
		"2024-05-01T10:20:30Zjunk", "1969-12-31T23:59:59Z", "1970-01-01T00:00:00Z",
		"2024-5-01T10:20:30Z", "2O24-05-01T10:20:30Z",
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		if (cd_http_parse_time(bad[i], &us) == 0) {
			fprintf(stderr, "time should fail: \"%s\"\n", bad[i]);
			CHECK(false);
		}

	CHECK_INT(cd_http_format_time(UINT64_C(1714558830123000), buf, sizeof(buf)), 0);
	CHECK_STR(buf, "2024-05-01T10:20:30.123Z");
	CHECK_INT(cd_http_format_time(UINT64_C(1714558830123456), buf, sizeof(buf)), 0);
	CHECK_STR(buf, "2024-05-01T10:20:30.123456Z");
	CHECK_INT(cd_http_format_time(0, buf, sizeof(buf)), 0);
	CHECK_STR(buf, "1970-01-01T00:00:00.000Z");
	CHECK_INT(cd_http_format_time(UINT64_C(951782400000000), buf, sizeof(buf)), 0);
	CHECK_STR(buf, "2000-02-29T00:00:00.000Z");
	CHECK_INT(cd_http_format_time(UINT64_C(253402300800000000), buf, sizeof(buf)), -EINVAL);
	CHECK_INT(cd_http_format_time(1, buf, 10), -EINVAL);

	/* Round trip: whatever next_before we print parses back exactly. */
	for (uint64_t t = 1000; t < UINT64_C(253402300799000000); t = t * 3 + 12345) {
		uint64_t back = 0;
		CHECK_INT(cd_http_format_time(t, buf, sizeof(buf)), 0);
		CHECK_INT(cd_http_parse_time(buf, &back), 0);
		if (back != t)
			fprintf(stderr, "round trip %llu -> %s -> %llu\n", (unsigned long long)t,
				buf, (unsigned long long)back);
		CHECK_INT(back, t);
	}
}

static void test_listen(void)
{
	struct sockaddr_storage sa;
	struct sockaddr_in *a4 = (struct sockaddr_in *)&sa;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&sa;
	socklen_t len;

	CHECK_INT(cd_http_parse_listen("127.0.0.1:8080", &sa, &len), 0);
	CHECK_INT(sa.ss_family, AF_INET);
	CHECK_INT(ntohs(a4->sin_port), 8080);
	CHECK_INT(ntohl(a4->sin_addr.s_addr), 0x7f000001);
	CHECK_INT(len, sizeof(struct sockaddr_in));
	CHECK_INT(cd_http_parse_listen("localhost:0", &sa, &len), 0);
	CHECK_INT(ntohl(a4->sin_addr.s_addr), 0x7f000001);
	CHECK_INT(ntohs(a4->sin_port), 0);
	CHECK_INT(cd_http_parse_listen("0.0.0.0:65535", &sa, &len), 0);
	CHECK_INT(ntohs(a4->sin_port), 65535);
	CHECK_INT(cd_http_parse_listen("[::1]:8080", &sa, &len), 0);
	CHECK_INT(sa.ss_family, AF_INET6);
	CHECK(IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr));
	CHECK_INT(ntohs(a6->sin6_port), 8080);
	CHECK_INT(len, sizeof(struct sockaddr_in6));

	static const char *const bad[] = {
		"", "8080", ":8080", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536",
		"127.0.0.1:80x", "::1:8080", "[::1]", "[::1]8080", "[::1]:", "[]:80",
		"example.com:80", "127.1:80", "[127.0.0.1]:80", "localhost",
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++)
		if (cd_http_parse_listen(bad[i], &sa, &len) == 0) {
			fprintf(stderr, "listen should fail: \"%s\"\n", bad[i]);
			CHECK(false);
		}
	CHECK_INT(cd_http_parse_listen(NULL, &sa, &len), -EINVAL);
}

/* A well-formed GET, varied per case. */
static struct cd_http_request get(const char *target)
{
	return (struct cd_http_request){
		.method = "GET", .target = target, .http11 = true,
		.host = "localhost:8080", .n_host = 1,
	};
}

static unsigned check(const struct cd_http_request *req, struct cd_http_match *m,
		      struct cd_http_error *e)
{
	*m = (struct cd_http_match){ .route = _CD_ROUTE_INVALID };
	*e = (struct cd_http_error){};
	return cd_http_check_request(req, 4096, m, e);
}

static void test_routes(void)
{
	struct cd_http_request req;
	struct cd_http_match m;
	struct cd_http_error e;

	static const struct {
		const char *target;
		enum cd_http_route route;
	} ok[] = {
		{ "/session", CD_ROUTE_SESSION },
		{ "/session?", CD_ROUTE_SESSION },
		{ "/sessions", CD_ROUTE_SESSIONS },
		{ "/sessions/7", CD_ROUTE_SESSION_ID },
		{ "/sessions/%37", CD_ROUTE_SESSION_ID },
		{ "/sessions/7/samples", CD_ROUTE_SESSION_SAMPLES },
		{ "/devices", CD_ROUTE_DEVICES },
		{ "/healthz", CD_ROUTE_HEALTHZ },
		{ "/metrics", CD_ROUTE_METRICS },
		{ "/%73ession", CD_ROUTE_SESSION },
		{ "/events", CD_ROUTE_EVENTS },
		{ "/events?device=ble-aa:bb:cc:dd:ee:ff", CD_ROUTE_EVENTS },
		{ "/", CD_ROUTE_PAGE },
		{ "/?style=big&anything=1", CD_ROUTE_PAGE },
		{ "/overlay?device=sim-1&style=minimal", CD_ROUTE_PAGE },
		{ "/static/app.js", CD_ROUTE_PAGE },
	};
	for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
		req = get(ok[i].target);
		if (check(&req, &m, &e) != 0) {
			fprintf(stderr, "route should pass: \"%s\" (%u %s)\n", ok[i].target,
				e.status, e.code);
			CHECK(false);
		} else
			CHECK_INT(m.route, ok[i].route);
	}

	req = get("/events?device=replay-1");
	CHECK_INT(check(&req, &m, &e), 0);
	CHECK(strcmp(m.device, "replay-1") == 0);
	req = get("/events");
	CHECK_INT(check(&req, &m, &e), 0);
	CHECK(m.device[0] == '\0');
	req = get("/");
	CHECK_INT(check(&req, &m, &e), 0);
	CHECK(strcmp(m.page, "index.html") == 0);
	req = get("/overlay?style=minimal");
	CHECK_INT(check(&req, &m, &e), 0);
	CHECK(strcmp(m.page, "overlay.html") == 0);
	req = get("/static/style.css");
	CHECK_INT(check(&req, &m, &e), 0);
	CHECK(strcmp(m.page, "style.css") == 0);

	req = get("/sessions/18446744073709551615/samples");
	CHECK_INT(check(&req, &m, &e), 0);
	CHECK(m.id == UINT64_MAX);
	CHECK_INT(m.route, CD_ROUTE_SESSION_SAMPLES);
	CHECK(!m.csv && !m.head);

	static const struct {
		const char *target;
		unsigned status;
		const char *code;
	} bad[] = {
		{ "/index.html", 404, "not_found" },
		{ "/static/", 404, "not_found" },
		{ "/static/..", 404, "not_found" },
		{ "/static/.hidden", 404, "not_found" },
		{ "/static/a%2Fb.js", 404, "not_found" },
		{ "/static/App.js", 404, "not_found" },
		{ "/static/a/b.js", 404, "not_found" },
		{ "/events/", 404, "not_found" },
		{ "/events?device=", 400, "bad_query" },
		{ "/events?device=a%20b", 400, "bad_query" },
		{ "/events?limit=3", 400, "bad_query" },
		{ "/nope", 404, "not_found" },
		{ "/session/", 404, "not_found" },
		{ "//session", 404, "not_found" },
		{ "/SESSION", 404, "not_found" },
		{ "/sessions/", 404, "not_found" },
		{ "/sessions/1/", 404, "not_found" },
		{ "/sessions/1/samples/x", 404, "not_found" },
		{ "/sessions/1/other", 404, "not_found" },
		{ "/sessions%2F1", 404, "not_found" },
		{ "/a/b/c/d/e/f", 404, "not_found" },
		{ "/session/../session", 404, "not_found" },
		{ "/metrics/", 404, "not_found" },
		{ "/metrics?x=1", 400, "bad_query" },
		{ "/sessions/abc", 400, "bad_id" },
		{ "/sessions/-1", 400, "bad_id" },
		{ "/sessions/+1", 400, "bad_id" },
		{ "/sessions/1.0", 400, "bad_id" },
		{ "/sessions/0x10", 400, "bad_id" },
		{ "/sessions/%201", 400, "bad_id" },
		{ "/sessions/18446744073709551616", 400, "bad_id" },
		{ "/sessions/99999999999999999999999/samples", 400, "bad_id" },
		{ "/sessions/0", 404, "not_found" },
		{ "/sess%zzion", 400, "bad_request" },
		{ "/session%00", 400, "bad_request" },
		{ "/session#frag", 400, "bad_request" },
		{ "session", 400, "bad_request" },
		{ "*", 400, "bad_request" },
		{ "http://localhost:8080/session", 400, "bad_request" },
		{ "", 400, "bad_request" },
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		unsigned s;

		req = get(bad[i].target);
		s = check(&req, &m, &e);
		if (s != bad[i].status || !e.code || strcmp(e.code, bad[i].code) != 0) {
			fprintf(stderr, "\"%s\": got %u %s, expected %u %s\n", bad[i].target, s,
				e.code ? e.code : "-", bad[i].status, bad[i].code);
			CHECK(false);
		}
		CHECK(e.message != NULL);
		CHECK_INT(m.route, _CD_ROUTE_INVALID); /* *ret untouched on failure */
	}
}

static void test_methods(void)
{
	struct cd_http_request req;
	struct cd_http_match m;
	struct cd_http_error e;

	req = get("/session");
	req.method = "HEAD";
	CHECK_INT(check(&req, &m, &e), 0);
	CHECK(m.head);

	static const char *const get_only[] = { "/session", "/sessions", "/sessions/1",
						"/sessions/1/samples", "/devices", "/healthz",
						"/metrics" };
	static const char *const methods[] = { "POST", "PUT", "DELETE", "OPTIONS", "PATCH",
					       "get", "TRACE" };
	for (size_t i = 0; i < ELEMENTSOF(get_only); i++)
		for (size_t j = 0; j < ELEMENTSOF(methods); j++) {
			req = get(get_only[i]);
			req.method = methods[j];
			req.content_type = "application/json";
			req.n_content_type = 1;
			CHECK_INT(check(&req, &m, &e), 405);
			CHECK_STR(e.allow, "GET, HEAD");
			CHECK_STR(e.code, "method_not_allowed");
		}
	static const char *const post_only[] = { "/session/start", "/session/stop" };
	static const char *const methods2[] = { "GET", "HEAD", "PUT", "DELETE", "OPTIONS" };
	for (size_t i = 0; i < ELEMENTSOF(post_only); i++)
		for (size_t j = 0; j < ELEMENTSOF(methods2); j++) {
			req = get(post_only[i]);
			req.method = methods2[j];
			CHECK_INT(check(&req, &m, &e), 405);
			CHECK_STR(e.allow, "POST");
		}
	/* 404 wins over 405: an unknown path is unknown for every method. */
	req = get("/nope");
	req.method = "DELETE";
	CHECK_INT(check(&req, &m, &e), 404);
	CHECK(e.allow == NULL);
	/* 405 wins over a bad id: the resource shape is known. */
	req = get("/sessions/abc");
	req.method = "POST";
	CHECK_INT(check(&req, &m, &e), 405);
}

static void test_host_origin_checks(void)
{
	struct cd_http_request req;
	struct cd_http_match m;
	struct cd_http_error e;

	req = get("/session");
	req.host = "evil.example";
	CHECK_INT(check(&req, &m, &e), 421);
	CHECK_STR(e.code, "misdirected_request");
	/* The Host check comes first: even a 404 path answers 421. */
	req.target = "/nope";
	CHECK_INT(check(&req, &m, &e), 421);

	req = get("/session");
	req.host = NULL;
	req.n_host = 0;
	CHECK_INT(check(&req, &m, &e), 400);
	CHECK_STR(e.code, "bad_host");
	req.host = "";
	req.n_host = 1;
	CHECK_INT(check(&req, &m, &e), 400);
	/* HTTP/1.0 may omit Host; browsers never do, so rebinding cannot. */
	req = get("/session");
	req.http11 = false;
	req.host = NULL;
	req.n_host = 0;
	CHECK_INT(check(&req, &m, &e), 0);
	req.host = "evil.example";
	req.n_host = 1;
	CHECK_INT(check(&req, &m, &e), 421);

	req = get("/session");
	req.n_host = 2;
	CHECK_INT(check(&req, &m, &e), 400);

	req = get("/session");
	req.origin = "http://evil.example";
	req.n_origin = 1;
	CHECK_INT(check(&req, &m, &e), 403);
	CHECK_STR(e.code, "forbidden_origin");
	req.origin = "null";
	CHECK_INT(check(&req, &m, &e), 403);
	req.origin = "http://localhost:8080";
	CHECK_INT(check(&req, &m, &e), 0);
	req.n_origin = 2;
	CHECK_INT(check(&req, &m, &e), 403);
}

static void test_query(void)
{
	struct cd_http_request req;
	struct cd_http_match m;
	struct cd_http_error e;

	req = get("/sessions");
	CHECK_INT(check(&req, &m, &e), 0);
	CHECK_INT(m.limit, 20);
	CHECK(m.before_us == 0 && m.since_us == 0);

	req = get("/sessions?limit=5&before=2024-05-01T10:20:30.123Z&since=1700000000");
	CHECK_INT(check(&req, &m, &e), 0);
	CHECK_INT(m.limit, 5);
	CHECK_INT(m.before_us, UINT64_C(1714558830123000));
	CHECK_INT(m.since_us, UINT64_C(1700000000000000));

	req = get("/sessions?before=2024-05-01T10%3A20%3A30.5Z&limit=1000&");
	CHECK_INT(check(&req, &m, &e), 0);
	CHECK_INT(m.before_us, UINT64_C(1714558830500000));
	CHECK_INT(m.limit, 1000);

	req = get("/sessions?&&limit=%31%30");
	CHECK_INT(check(&req, &m, &e), 0);
	CHECK_INT(m.limit, 10);

	req = get("/sessions?before=2024-05-01T10:20:30%2B00:00");
	CHECK_INT(check(&req, &m, &e), 0);
	CHECK_INT(m.before_us, UINT64_C(1714558830000000));

	req = get("/sessions/3/samples?format=csv");
	CHECK_INT(check(&req, &m, &e), 0);
	CHECK(m.csv);
	CHECK_INT(m.id, 3);
	req = get("/sessions/3/samples?format=json");
	CHECK_INT(check(&req, &m, &e), 0);
	CHECK(!m.csv);

	static const char *const bad[] = {
		"/sessions?limit=0", "/sessions?limit=1001", "/sessions?limit=-1",
		"/sessions?limit=", "/sessions?limit", "/sessions?limit=1e3", "/sessions?limit=+5",
		"/sessions?limit=5%20", "/sessions?limit=18446744073709551616",
		"/sessions?limit=99999999999999999999999999999999",
		"/sessions?limit=5&limit=6", "/sessions?limit=5&lim%69t=6",
		"/sessions?before=yesterday", "/sessions?before=2024-05-01T10:20:30+00:00",
		"/sessions?since=0", "/sessions?since=", "/sessions?before=1&before=2",
		"/sessions?foo=1", "/sessions?LIMIT=5", "/sessions?format=csv",
		"/sessions?limit=5%zz", "/sessions?%zz=1", "/sessions?limit=%00",
		"/session?limit=5", "/session?x", "/devices?format=csv", "/healthz?verbose=1",
		"/sessions/1?format=csv", "/sessions/1/samples?format=CSV",
		"/sessions/1/samples?format=xml", "/sessions/1/samples?format=csv&format=csv",
		"/sessions/1/samples?limit=5",
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		unsigned s;

		req = get(bad[i]);
		s = check(&req, &m, &e);
		if (s != 400 || !e.code || strcmp(e.code, "bad_query") != 0) {
			fprintf(stderr, "\"%s\": got %u %s, expected 400 bad_query\n", bad[i], s,
				e.code ? e.code : "-");
			CHECK(false);
		}
	}

	/* A very long query of empty pieces is fine; a long unknown key is not. */
	char big[8192] = "/sessions?";
	memset(big + 10, '&', sizeof(big) - 11);
	big[sizeof(big) - 1] = '\0';
	req = get(big);
	CHECK_INT(check(&req, &m, &e), 0);
	memset(big + 10, 'k', sizeof(big) - 11);
	req = get(big);
	CHECK_INT(check(&req, &m, &e), 400);
}

static void test_post_checks(void)
{
	struct cd_http_request req;
	struct cd_http_match m;
	struct cd_http_error e;

	req = get("/session/start");
	req.method = "POST";
	CHECK_INT(check(&req, &m, &e), 415); /* even without a body */
	CHECK_STR(e.code, "unsupported_media_type");
	req.content_type = "text/plain";
	req.n_content_type = 1;
	CHECK_INT(check(&req, &m, &e), 415);
	req.content_type = "application/x-www-form-urlencoded";
	CHECK_INT(check(&req, &m, &e), 415);
	req.content_type = "application/json";
	CHECK_INT(check(&req, &m, &e), 0);
	CHECK_INT(m.route, CD_ROUTE_SESSION_START);
	req.n_content_type = 2;
	CHECK_INT(check(&req, &m, &e), 415);
	req.n_content_type = 1;

	req.has_content_length = true;
	req.content_length = 4096;
	CHECK_INT(check(&req, &m, &e), 0);
	req.content_length = 4097;
	CHECK_INT(check(&req, &m, &e), 413);
	CHECK_STR(e.code, "body_too_large");
	req.content_length = UINT64_MAX;
	CHECK_INT(check(&req, &m, &e), 413);
	req.content_length = 10;
	req.chunked = true;
	CHECK_INT(check(&req, &m, &e), 400);

	/* Query parameters on POST are unknown too. */
	req = get("/session/stop?device=sim-1");
	req.method = "POST";
	req.content_type = "application/json";
	req.n_content_type = 1;
	CHECK_INT(check(&req, &m, &e), 400);
}

static unsigned body(enum cd_http_route r, const char *s, struct cd_http_body *b,
		     struct cd_http_error *e)
{
	*e = (struct cd_http_error){};
	return cd_http_parse_body(r, s, strlen(s), b, e);
}

static void test_body(void)
{
	struct cd_http_body b = {};
	struct cd_http_error e;

	CHECK_INT(cd_http_parse_body(CD_ROUTE_SESSION_START, NULL, 0, &b, &e), 0);
	CHECK(!b.device && !b.kind);
	CHECK_INT(body(CD_ROUTE_SESSION_START, "{}", &b, &e), 0);
	CHECK(!b.device && !b.kind);
	CHECK_INT(body(CD_ROUTE_SESSION_START, " {\"device\":\"ble-aa:bb:cc:dd:ee:ff\",\"kind\":\"aerobic\"}\n", &b, &e), 0);
	CHECK_STR(b.device, "ble-aa:bb:cc:dd:ee:ff");
	CHECK_STR(b.kind, "aerobic");
	cd_http_body_done(&b);
	CHECK(!b.device && !b.kind);
	CHECK_INT(body(CD_ROUTE_SESSION_START, "{\"kind\":\"resistance\",\"device\":null}", &b, &e), 0);
	CHECK(b.device == NULL);
	CHECK_STR(b.kind, "resistance");
	cd_http_body_done(&b);
	CHECK_INT(body(CD_ROUTE_SESSION_STOP, "{\"device\":\"ant-12345\"}", &b, &e), 0);
	CHECK_STR(b.device, "ant-12345");
	cd_http_body_done(&b);
	CHECK_INT(body(CD_ROUTE_SESSION_START, "{\"device\":\"sim-1\",\"kind\":\"high_intensity-2\"}", &b, &e), 0);
	cd_http_body_done(&b);

	static const struct {
		enum cd_http_route route;
		const char *body;
		const char *code;
	} bad[] = {
		{ CD_ROUTE_SESSION_START, "{", "bad_json" },
		{ CD_ROUTE_SESSION_START, "{}}", "bad_json" },
		{ CD_ROUTE_SESSION_START, "{} x", "bad_json" },
		{ CD_ROUTE_SESSION_START, "{\"device\":\"a\",}", "bad_json" },
		{ CD_ROUTE_SESSION_START, "device=sim-1", "bad_json" },
		{ CD_ROUTE_SESSION_START, " ", "bad_json" },
		{ CD_ROUTE_SESSION_START, "[]", "bad_body" },
		{ CD_ROUTE_SESSION_START, "\"sim-1\"", "bad_body" },
		{ CD_ROUTE_SESSION_START, "null", "bad_body" },
		{ CD_ROUTE_SESSION_START, "42", "bad_body" },
		{ CD_ROUTE_SESSION_START, "{\"devices\":\"sim-1\"}", "bad_body" },
		{ CD_ROUTE_SESSION_START, "{\"Device\":\"sim-1\"}", "bad_body" },
		{ CD_ROUTE_SESSION_START, "{\"device\":\"a\",\"device\":\"b\"}", "bad_body" },
		{ CD_ROUTE_SESSION_START, "{\"kind\":\"aerobic\",\"kind\":\"aerobic\"}", "bad_body" },
		{ CD_ROUTE_SESSION_START, "{\"device\":1}", "bad_body" },
		{ CD_ROUTE_SESSION_START, "{\"device\":true}", "bad_body" },
		{ CD_ROUTE_SESSION_START, "{\"device\":[\"sim-1\"]}", "bad_body" },
		{ CD_ROUTE_SESSION_START, "{\"kind\":{}}", "bad_body" },
		{ CD_ROUTE_SESSION_START, "{\"device\":\"\"}", "bad_device" },
		{ CD_ROUTE_SESSION_START, "{\"device\":\"sim 1\"}", "bad_device" },
		{ CD_ROUTE_SESSION_START, "{\"device\":\"../../etc\"}", "bad_device" },
		{ CD_ROUTE_SESSION_START, "{\"device\":\"sim-1\\u0000x\"}", "bad_json" },
		{ CD_ROUTE_SESSION_START, "{\"device\":\"s\\u00e9\"}", "bad_device" },
		{ CD_ROUTE_SESSION_START, "{\"kind\":\"\"}", "bad_kind" },
		{ CD_ROUTE_SESSION_START, "{\"kind\":\"Aerobic\"}", "bad_kind" },
		{ CD_ROUTE_SESSION_START, "{\"kind\":\"1x\"}", "bad_kind" },
		{ CD_ROUTE_SESSION_START, "{\"kind\":\"aer obic\"}", "bad_kind" },
		{ CD_ROUTE_SESSION_START, "{\"kind\":\"<script>\"}", "bad_kind" },
		{ CD_ROUTE_SESSION_START, "{\"kind\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}", "bad_kind" },
		{ CD_ROUTE_SESSION_STOP, "{\"kind\":\"aerobic\"}", "bad_body" },
		{ CD_ROUTE_SESSION_STOP, "{\"device\":\"sim-1\",\"extra\":1}", "bad_body" },
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		unsigned s = body(bad[i].route, bad[i].body, &b, &e);

		if (s != 400 || !e.code || strcmp(e.code, bad[i].code) != 0) {
			fprintf(stderr, "body '%s': got %u %s, expected 400 %s\n", bad[i].body, s,
				e.code ? e.code : "-", bad[i].code);
			CHECK(false);
		}
		CHECK(!b.device && !b.kind);
	}

	/* An embedded NUL must not truncate the body into something valid. */
	CHECK_INT(cd_http_parse_body(CD_ROUTE_SESSION_START, "{}\0{\"kind\":1}", 13, &b, &e), 400);
	/* Not NUL-terminated input is read only up to len. */
	CHECK_INT(cd_http_parse_body(CD_ROUTE_SESSION_START, "{}garbage", 2, &b, &e), 0);

	/* Deep nesting is refused, never a stack overflow. */
	char deep[4097];
	memset(deep, '[', sizeof(deep) - 1);
	deep[sizeof(deep) - 1] = '\0';
	CHECK_INT(body(CD_ROUTE_SESSION_START, deep, &b, &e), 400);
}

static void test_validators(void)
{
	CHECK(cd_http_kind_valid("aerobic"));
	CHECK(cd_http_kind_valid("a"));
	CHECK(!cd_http_kind_valid(NULL));
	CHECK(!cd_http_kind_valid("-a"));
	CHECK(!cd_http_kind_valid("_a"));
	CHECK(cd_http_device_valid("ble-aa:bb:cc:dd:ee:ff"));
	CHECK(cd_http_device_valid("replay-1"));
	CHECK(!cd_http_device_valid(NULL));
	CHECK(!cd_http_device_valid("a/b"));
	CHECK_STR(cd_http_route_to_string(CD_ROUTE_HEALTHZ), "healthz");
	CHECK(cd_http_route_to_string(_CD_ROUTE_INVALID) == NULL);
	CHECK(cd_http_route_to_string(_CD_ROUTE_MAX) == NULL);
	for (int r = 0; r < _CD_ROUTE_MAX; r++)
		CHECK(cd_http_route_to_string(r) != NULL);
}

/* GET /summary and POST /sessions/import (DESIGN §9.4, §9.5). */
static void test_dose_routes(void)
{
	struct cd_http_request req;
	struct cd_http_match m;
	struct cd_http_error e;

	req = get("/summary");
	CHECK_INT(check(&req, &m, &e), 0);
	CHECK_INT(m.route, CD_ROUTE_SUMMARY);
	CHECK_INT(m.summary.by, CD_SUMMARY_WEEK);
	CHECK(!m.summary.has_from && !m.summary.has_to && m.summary.profile[0] == '\0');
	req = get("/summary?by=day&from=2026-03-23&to=2026-03-29&profile=alice.b-2");
	CHECK_INT(check(&req, &m, &e), 0);
	CHECK_INT(m.summary.by, CD_SUMMARY_DAY);
	CHECK(m.summary.has_from && m.summary.has_to);
	CHECK_INT(m.summary.to - m.summary.from, 6);
	CHECK_INT(m.summary.from, 20535); /* days from 1970-01-01 to 2026-03-23 */
	CHECK_STR(m.summary.profile, "alice.b-2");
	req = get("/summary?from=2026-03-29&to=2026-03-29");
	CHECK_INT(check(&req, &m, &e), 0);

	static const char *const bad[] = {
		"/summary?by=year", "/summary?by=", "/summary?from=2026-02-29",
		"/summary?from=2026-3-01", "/summary?to=1969-12-31", "/summary?from=yesterday",
		"/summary?from=2026-04-02&to=2026-04-01", "/summary?profile=a%20b",
		"/summary?profile=", "/summary?limit=3", "/summary?by=day&by=week",
		"/summary?started_at=2026-03-29T07:00:00Z",
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		req = get(bad[i]);
		if (check(&req, &m, &e) != 400) {
			fprintf(stderr, "should be 400: %s\n", bad[i]);
			CHECK(false);
		}
	}
	req = get("/summary");
	req.method = "POST";
	CHECK_INT(check(&req, &m, &e), 405);

	/* Import: its content types, its parameters, no max_body (the glue caps it). */
	req = get("/sessions/import?started_at=2026-03-29T07:00:00Z&device=ble-aa:bb:cc:dd:ee:ff"
		  "&kind=run&profile=alice");
	req.method = "POST";
	req.content_type = "text/csv; charset=utf-8";
	req.n_content_type = 1;
	req.has_content_length = true;
	req.content_length = 10u << 20;
	CHECK_INT(check(&req, &m, &e), 0);
	CHECK_INT(m.route, CD_ROUTE_SESSIONS_IMPORT);
	CHECK_INT(m.import.format, CD_IMPORT_CSV);
	CHECK(m.import.has_started_at);
	CHECK_INT(m.import.started_at_us, 1774767600000000LL);
	CHECK_STR(m.import.device, "ble-aa:bb:cc:dd:ee:ff");
	CHECK_STR(m.import.kind, "run");
	CHECK_STR(m.import.profile, "alice");
	req.content_type = "application/vnd.ant.fit";
	CHECK_INT(check(&req, &m, &e), 0);
	CHECK_INT(m.import.format, CD_IMPORT_FIT);
	req.content_type = "Application/Vnd.Garmin.Tcx+Xml";
	CHECK_INT(check(&req, &m, &e), 0);
	CHECK_INT(m.import.format, CD_IMPORT_TCX);
	static const char *const types[] = { "application/json", "text/plain", "text/csvx",
					     "application/x-www-form-urlencoded", "" };
	for (size_t i = 0; i < ELEMENTSOF(types); i++) {
		req.content_type = types[i];
		if (check(&req, &m, &e) != 415) {
			fprintf(stderr, "import should be 415: %s\n", types[i]);
			CHECK(false);
		}
	}
	req.content_type = "text/csv";
	req.n_content_type = 2;
	CHECK_INT(check(&req, &m, &e), 415);
	req.n_content_type = 1;
	req.target = "/sessions/import?device=bad%20id";
	CHECK_INT(check(&req, &m, &e), 400);
	req.target = "/sessions/import?kind=Run";
	CHECK_INT(check(&req, &m, &e), 400);
	req.target = "/sessions/import?started_at=yesterday";
	CHECK_INT(check(&req, &m, &e), 400);
	/* Numeric offsets: the same instant as 2026-03-29T07:00:00Z. */
	req.target = "/sessions/import?started_at=2026-03-29T09:00:00%2B02:00";
	CHECK_INT(check(&req, &m, &e), 0);
	CHECK_INT(m.import.started_at_us, 1774767600000000LL);
	req.target = "/sessions/import?started_at=2026-03-29T09:00:00+02:00"; /* '+' as ' ' */
	CHECK_INT(check(&req, &m, &e), 0);
	CHECK_INT(m.import.started_at_us, 1774767600000000LL);
	req.target = "/sessions/import?started_at=2026-03-29T02:30:00.5-04:30";
	CHECK_INT(check(&req, &m, &e), 0);
	CHECK_INT(m.import.started_at_us, 1774767600500000LL);
	req.target = "/sessions/import?started_at=2026-03-29T09:00:00+24:00";
	CHECK_INT(check(&req, &m, &e), 400);
	req.target = "/sessions/import?started_at=1970-01-01T00:00:00+01:00";
	CHECK_INT(check(&req, &m, &e), 400);
	req.target = "/sessions/import?by=week";
	CHECK_INT(check(&req, &m, &e), 400);
	req.target = "/sessions/import";
	req.method = "GET";
	CHECK_INT(check(&req, &m, &e), 405);
	CHECK_INT(cd_http_import_format(NULL), -1);
	CHECK(cd_http_profile_valid("default") && !cd_http_profile_valid("a/b"));
}

/* DESIGN §9.7: the bearer token, and the remote (token-guarded) server's any_host. */
static void test_auth(void)
{
	static const char tok[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	struct cd_http_request req;
	struct cd_http_match m;
	struct cd_http_error e;
	char buf[160];

	snprintf(buf, sizeof(buf), "Bearer %s", tok);
	CHECK(cd_http_bearer_matches(buf, tok));
	snprintf(buf, sizeof(buf), "  bEARER \t %s  ", tok);
	CHECK(cd_http_bearer_matches(buf, tok));
	snprintf(buf, sizeof(buf), "Bearer %.63s", tok);
	CHECK(!cd_http_bearer_matches(buf, tok));
	snprintf(buf, sizeof(buf), "Bearer %s0", tok);
	CHECK(!cd_http_bearer_matches(buf, tok));
	snprintf(buf, sizeof(buf), "Bearer %.63s0", tok);
	CHECK(!cd_http_bearer_matches(buf, tok));
	snprintf(buf, sizeof(buf), "Bearer %s extra", tok);
	CHECK(!cd_http_bearer_matches(buf, tok));
	snprintf(buf, sizeof(buf), "Bearer%s", tok);
	CHECK(!cd_http_bearer_matches(buf, tok));
	snprintf(buf, sizeof(buf), "Basic %s", tok);
	CHECK(!cd_http_bearer_matches(buf, tok));
	snprintf(buf, sizeof(buf), "%s", tok);
	CHECK(!cd_http_bearer_matches(buf, tok));
	CHECK(!cd_http_bearer_matches("Bearer ", tok));
	CHECK(!cd_http_bearer_matches("Bearer", tok));
	CHECK(!cd_http_bearer_matches(NULL, tok));
	CHECK(!cd_http_bearer_matches("Bearer x", NULL));
	CHECK(!cd_http_bearer_matches("Bearer ", ""));

	/* A remote server takes any Host (the token guards it); Origin is still checked. */
	req = get("/session");
	req.host = "192.0.2.7:8080";
	CHECK_INT(check(&req, &m, &e), 421);
	req.any_host = true;
	CHECK_INT(check(&req, &m, &e), 0);
	req.origin = "http://evil.example";
	req.n_origin = 1;
	CHECK_INT(check(&req, &m, &e), 403);
}

int main(void)
{
	test_auth();
	test_host();
	test_origin();
	test_content_type();
	test_unescape();
	test_time();
	test_listen();
	test_routes();
	test_methods();
	test_host_origin_checks();
	test_query();
	test_post_checks();
	test_body();
	test_validators();
	test_dose_routes();
	return check_exit("test-http-parse");
}
