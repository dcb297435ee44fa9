/* SPDX-License-Identifier: MIT */
/* daemon/daemon-config.c: every section and key of DESIGN §6, errors as FILE:LINE. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cleanup.h"
#include "daemon-config.h"

static const char good[] = "# cardiod.conf\n"
			   "[http]\n"
			   "listen = 127.0.0.1:9090\n"
			   "max_connections = 200\n"
			   "timeout_s = 3\n"
			   "[bus]\n"
			   "bus = none\n"
			   "[profile]\n"
			   "age = 30 ; inline comment\n"
			   "hr_rest = 55\n"
			   "sex = female\n"
			   "[profile anna]\n"
			   "hr_max = 190\n"
			   "zones_bpm = 100,120,140,160,175\n"
			   "devices = ble-aa:bb:cc:dd:ee:ff, ant-12345 sim-2\n"
			   "[ble]\n"
			   "enabled = no\n"
			   "adapter = hci1\n"
			   "devices = ble-aa:bb:cc:dd:ee:ff\n"
			   "[ant]\n"
			   "enabled = yes\n"
			   "device = /dev/ttyUSB0\n"
			   "network_key_file = /etc/cardiod/ant.key\n"
			   "[session]\n"
			   "idle_timeout_s = 60\n"
			   "max_gap_s = 3\n"
			   "stale_after_s = 8\n"
			   "window_s = 300\n"
			   "commit_interval_s = 2\n"
			   "[storage]\n"
			   "path = /tmp/x.db\n";

static void test_defaults(void)
{
	struct cd_config c;
	_cleanup_free_ char *err = NULL;

	CHECK_INT(cd_config_init(&c), 0);
	CHECK_STR(c.listen, "127.0.0.1:8080");
	CHECK_INT(c.http_max_connections, 64);
	CHECK_INT(c.http_timeout_s, 10);
	CHECK_STR(c.bus, "system");
	CHECK(strstr(c.db_path, "/lib/cardiod/cardiod.db") != NULL);
	CHECK_NEAR(c.idle_timeout_s, 120, 0);
	CHECK_NEAR(c.commit_interval_s, 5, 0);
	CHECK_NEAR(c.engine.max_gap_s, 5, 0);
	CHECK_NEAR(c.engine.window_s, 600, 0);
	CHECK_NEAR(c.engine.stale_after_s, 10, 0);
	CHECK(c.ble_enabled && c.ant_enabled);
	CHECK_INT(cd_config_finish(&c, "x", &err), 0);
	/* Neither hr_max nor age: Tanaka at the documented default age. */
	CHECK_NEAR(c.default_profile.profile.hr_max, 180, 1e-9);
	CHECK_INT(c.default_profile.profile.hr_max_source, CD_HR_MAX_AGE);
	cd_config_done(&c);
}

static void test_good(void)
{
	struct cd_config c;
	_cleanup_free_ char *err = NULL;
	const struct cd_profile *p;

	cd_config_init(&c);
	CHECK_INT(cd_config_parse_string(&c, good, "good.conf", &err), 0);
	CHECK(err == NULL);
	CHECK_INT(cd_config_finish(&c, "good.conf", &err), 0);
	CHECK_STR(c.listen, "127.0.0.1:9090");
	CHECK_INT(c.http_max_connections, 200);
	CHECK_INT(c.http_timeout_s, 3);
	CHECK_STR(c.bus, "none");
	CHECK_STR(c.db_path, "/tmp/x.db");
	CHECK(!c.ble_enabled);
	CHECK_STR(c.ble_adapter, "hci1");
	CHECK(c.ble_devices && c.ble_devices[0] && !c.ble_devices[1]);
	CHECK(c.ant_enabled);
	CHECK_STR(c.ant_device, "/dev/ttyUSB0");
	CHECK_STR(c.ant_key_file, "/etc/cardiod/ant.key");
	CHECK_NEAR(c.idle_timeout_s, 60, 0);
	CHECK_NEAR(c.engine.max_gap_s, 3, 0);
	CHECK_NEAR(c.engine.stale_after_s, 8, 0);
	CHECK_NEAR(c.engine.window_s, 300, 0);
	CHECK_NEAR(c.commit_interval_s, 2, 0);

	p = cd_config_profile_for(&c, "sim-1");
	CHECK_STR(p->name, "default");
	CHECK_NEAR(p->hr_max, 208 - 0.7 * 30, 1e-12);
	CHECK_NEAR(p->hr_rest, 55, 0);
	CHECK_INT(p->sex, CD_SEX_FEMALE);

	p = cd_config_profile_for(&c, "sim-2");
	CHECK_STR(p->name, "anna");
	CHECK_NEAR(p->hr_max, 190, 0);
	CHECK_INT(p->hr_max_source, CD_HR_MAX_CONFIGURED);
	CHECK(p->has_zones_bpm);
	CHECK_INT(p->model, CD_MODEL_ZONES_BPM); /* implied, as cardioctl does */
	CHECK_STR(cd_config_profile_for(&c, "ant-12345")->name, "anna");
	CHECK_STR(cd_config_profile_for(&c, "ble-aa:bb:cc:dd:ee:ff")->name, "anna");
	cd_config_done(&c);
}

/* The first error, as "FILE:LINE: reason". */
static void expect_error(const char *text, const char *prefix, const char *fragment)
{
	struct cd_config c;
	_cleanup_free_ char *err = NULL;
	int r;

	cd_config_init(&c);
	r = cd_config_parse_string(&c, text, "t.conf", &err);
	if (r == 0)
		r = cd_config_finish(&c, "t.conf", &err);
	CHECK_INT(r, -EINVAL);
	CHECK(err && strncmp(err, prefix, strlen(prefix)) == 0);
	CHECK(err && strstr(err, fragment));
	if (!err || strncmp(err, prefix, strlen(prefix)) != 0 || !strstr(err, fragment))
		fprintf(stderr, "  got: %s (wanted %s…%s)\n", err ? err : "(null)", prefix,
			fragment);
	cd_config_done(&c);
}

static void test_errors(void)
{
	expect_error("[http]\nlisten = 127.0.0.1:8080\nport = 1\n", "t.conf:3: ", "unknown key 'port'");
	expect_error("[nope]\nx = 1\n", "t.conf:2: ", "unknown section [nope]");
	expect_error("x = 1\n", "t.conf:1: ", "outside");
	expect_error("[session]\n\nmax_gap_s = -1\n", "t.conf:3: ", "max_gap_s");
	expect_error("[session]\nwindow_s = abc\n", "t.conf:2: ", "window_s");
	expect_error("[http]\nlisten = localhost\n", "t.conf:2: ", "ADDR:PORT");
	expect_error("[http]\nlisten = 127.0.0.1:99999\n", "t.conf:2: ", "ADDR:PORT");
	expect_error("[http]\n\nmax_connections = 0\n", "t.conf:3: ",
		     "max_connections: expected a whole number of connections from 1 to 4096, got '0'");
	expect_error("[http]\nmax_connections = 4097\n", "t.conf:2: ", "'4097'");
	expect_error("[http]\nmax_connections = 12.5\n", "t.conf:2: ", "whole number");
	expect_error("[http]\nmax_connections = -1\n", "t.conf:2: ", "max_connections");
	expect_error("[http]\nmax_connections =\n", "t.conf:2: ", "max_connections");
	expect_error("[http]\ntimeout_s = 0\n", "t.conf:2: ",
		     "timeout_s: expected a whole number of seconds from 1 to 3600, got '0'");
	expect_error("[http]\ntimeout_s = 2.5\n", "t.conf:2: ", "timeout_s");
	expect_error("[http]\ntimeout_s = 3601\n", "t.conf:2: ", "timeout_s");
	expect_error("[http]\ntimeout_s = 1e1\n", "t.conf:2: ", "timeout_s");
	expect_error("[http]\ntimeout_s = ten\n", "t.conf:2: ", "timeout_s");
	expect_error("[bus]\nbus = sometimes\n", "t.conf:2: ", "bus");
	expect_error("[profile]\nsex = other\n", "t.conf:2: ", "sex");
	expect_error("[profile]\nage = 300\n", "t.conf:2: ", "age");
	expect_error("[profile]\nhr_max = 20\n", "t.conf:2: ", "hr_max");
	expect_error("[profile]\nzones = 50,40,70,80,90\n", "t.conf:2: ", "zones");
	expect_error("[profile]\nmodel = fancy\n", "t.conf:2: ", "model");
	expect_error("[ble]\nenabled = maybe\n", "t.conf:2: ", "enabled");
	expect_error("[ant]\nfoo = 1\n", "t.conf:2: ", "unknown key 'foo' in [ant]");
	expect_error("[storage]\npath =\n", "t.conf:2: ", "path");
	/* A line that is neither a section nor key = value. */
	expect_error("[http]\nlisten = 127.0.0.1:1\nthis is not ini\n", "t.conf:3: ", "syntax");
	expect_error("[http\n", "t.conf:1: ", "syntax");
	/* The first problem is reported, even when a later one is a syntax error. */
	expect_error("[http]\nbad = 1\ngarbage\n", "t.conf:2: ", "unknown key 'bad'");
	/* Checks across keys name the last line of the section. */
	expect_error("[profile]\nhr_max = 150\nhr_rest = 150\n[profile x]\nage=20\n", "t.conf:3: ",
		     "hr_rest must be below hr_max");
	expect_error("[profile bob]\nage = 40\nzones = 50,60,70,80,90\nzones_bpm = 1,2,3,4,5\n",
		     "t.conf:4: ", "mutually exclusive");
	expect_error("[profile default]\nage = 40\n", "t.conf:2: ", "profile name");
}

/* [ant] devices (20-bit numbers, "ant-" prefix optional) and mode. */
static void test_ant(void)
{
	struct cd_config c;
	_cleanup_free_ char *err = NULL;

	cd_config_init(&c);
	CHECK(c.ant_devices == NULL && c.n_ant_devices == 0 && !c.ant_channels);
	CHECK_INT(cd_config_parse_string(&c, "[ant]\ndevices = 12345, ant-1048575 7\nmode = channels\n",
					 "f", &err), 0);
	CHECK_INT(c.n_ant_devices, 3);
	CHECK(c.ant_devices && c.ant_devices[0] == 12345 && c.ant_devices[1] == 1048575 &&
	      c.ant_devices[2] == 7);
	CHECK(c.ant_channels);
	CHECK_INT(cd_config_set(&c, "ant", "mode", "scan", "x", 0, &err), 0);
	CHECK(!c.ant_channels);
	/* Empty: every strap again. */
	CHECK_INT(cd_config_set(&c, "ant", "devices", "", "x", 0, &err), 0);
	CHECK(c.ant_devices == NULL && c.n_ant_devices == 0);
	cd_config_done(&c);

	expect_error("[ant]\ndevices = 12345, 1048576\n", "t.conf:2: ", "'1048576'");
	expect_error("[ant]\ndevices = 0\n", "t.conf:2: ", "device numbers");
	expect_error("[ant]\ndevices = ble-aa:bb:cc:dd:ee:ff\n", "t.conf:2: ", "device numbers");
	expect_error("[ant]\ndevices = -5\n", "t.conf:2: ", "device numbers");
	expect_error("[ant]\nmode = sometimes\n", "t.conf:2: ", "scan or channels");

	/* §9.7 bounds of unlisted device numbers. */
	cd_config_init(&c);
	CHECK_INT(c.ant_max_unknown, 16);
	CHECK_NEAR(c.ant_forget_after_s, 600, 0);
	CHECK_INT(cd_config_parse_string(&c, "[ant]\nmax_unknown = 0\nforget_after_s = 2.5\n", "f",
					 &err), 0);
	CHECK_INT(c.ant_max_unknown, 0);
	CHECK_NEAR(c.ant_forget_after_s, 2.5, 0);
	CHECK_INT(cd_config_set(&c, "ant", "max_unknown", "4096", "x", 0, &err), 0);
	CHECK_INT(c.ant_max_unknown, 4096);
	cd_config_done(&c);
	expect_error("[ant]\nmax_unknown = 4097\n", "t.conf:2: ", "from 0 to 4096");
	expect_error("[ant]\nmax_unknown = 1.5\n", "t.conf:2: ", "from 0 to 4096");
	expect_error("[ant]\nmax_unknown = -1\n", "t.conf:2: ", "from 0 to 4096");
	expect_error("[ant]\nforget_after_s = 0\n", "t.conf:2: ", "between 1 and 86400");
	expect_error("[ant]\nforget_after_s = soon\n", "t.conf:2: ", "between 1 and 86400");
}

static void test_cli_override(void)
{
	struct cd_config c;
	_cleanup_free_ char *err = NULL;

	cd_config_init(&c);
	CHECK_INT(cd_config_parse_string(&c, "[session]\nmax_gap_s = 3\n", "f", &err), 0);
	CHECK_INT(cd_config_set(&c, "session", "max_gap_s", "7", "--max-gap", 0, &err), 0);
	CHECK_NEAR(c.engine.max_gap_s, 7, 0);
	CHECK_INT(cd_config_set(&c, "session", "max_gap_s", "x", "--max-gap", 0, &err), -EINVAL);
	CHECK(err && strncmp(err, "--max-gap: ", 11) == 0);
	free(TAKE_PTR(err));
	/* [http] limits: the file, then the option wins. */
	CHECK_INT(cd_config_parse_string(&c, "[http]\ntimeout_s = 30\nmax_connections = 8\n", "f",
					 &err), 0);
	CHECK_INT(c.http_timeout_s, 30);
	CHECK_INT(cd_config_set(&c, "http", "timeout_s", "3", "--http-timeout", 0, &err), 0);
	CHECK_INT(cd_config_set(&c, "http", "max_connections", "4096", "--http-max-connections", 0,
				&err), 0);
	CHECK_INT(c.http_timeout_s, 3);
	CHECK_INT(c.http_max_connections, 4096);
	CHECK_INT(cd_config_set(&c, "http", "timeout_s", "0", "--http-timeout", 0, &err), -EINVAL);
	CHECK(err && strncmp(err, "--http-timeout: timeout_s: ", 27) == 0);
	CHECK_INT(c.http_timeout_s, 3);
	cd_config_done(&c);
}

static void test_files(void)
{
	struct cd_config c;
	char *err = NULL;
	char path[] = "/tmp/test-config-XXXXXX";
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");

	fputs("[session]\nidle_timeout_s = 30\n[http]\nnope = 1\n", f);
	fclose(f);

	cd_config_init(&c);
	CHECK_INT(cd_config_load_file(&c, "/nonexistent/cardiod.conf", false, &err), 0);
	CHECK_INT(cd_config_load_file(&c, "/nonexistent/cardiod.conf", true, &err), -EINVAL);
	CHECK(err && strstr(err, "/nonexistent/cardiod.conf: "));
	free(err);
	err = NULL;
	CHECK_INT(cd_config_load_file(&c, path, true, &err), -EINVAL);
	CHECK(err && strncmp(err, path, strlen(path)) == 0 && strstr(err, ":4: "));
	free(err);
	CHECK_NEAR(c.idle_timeout_s, 30, 0);
	cd_config_done(&c);
	unlink(path);
}

/* [mqtt] (issue 15): off by default; url parsed into host, port and TLS. */
static void test_mqtt(void)
{
	struct cd_config c;
	_cleanup_free_ char *err = NULL;

	CHECK_INT(cd_config_init(&c), 0);
	CHECK(c.mqtt_url == NULL);
	CHECK(c.mqtt_discovery);
	CHECK_STR(c.mqtt_discovery_prefix, "homeassistant");
	CHECK(c.mqtt_topic_prefix == NULL);
	CHECK_NEAR(c.mqtt_publish_interval_s, 5, 0);
	CHECK_INT(cd_config_parse_string(&c,
					 "[mqtt]\nurl = mqtt://192.168.1.10\nusername = hr\n"
					 "password_file = /etc/cardiod/mqtt.pw\n"
					 "topic_prefix = cardiod/gym-1\ndiscovery = no\n"
					 "discovery_prefix = ha\npublish_interval_s = 2.5\n",
					 "t.conf", &err),
		  0);
	CHECK_STR(c.mqtt_host, "192.168.1.10");
	CHECK_INT(c.mqtt_port, 1883);
	CHECK(!c.mqtt_tls);
	CHECK_STR(c.mqtt_username, "hr");
	CHECK_STR(c.mqtt_password_file, "/etc/cardiod/mqtt.pw");
	CHECK_STR(c.mqtt_topic_prefix, "cardiod/gym-1");
	CHECK(!c.mqtt_discovery);
	CHECK_STR(c.mqtt_discovery_prefix, "ha");
	CHECK_NEAR(c.mqtt_publish_interval_s, 2.5, 0);
	CHECK_INT(cd_config_parse_string(&c, "[mqtt]\nurl = mqtts://[::1]:8884\nca_file = /ca.pem\n",
					 "t.conf", &err),
		  0);
	CHECK_STR(c.mqtt_host, "::1");
	CHECK_INT(c.mqtt_port, 8884);
	CHECK(c.mqtt_tls);
	CHECK_STR(c.mqtt_ca_file, "/ca.pem");
	CHECK_INT(cd_config_parse_string(&c, "[mqtt]\nurl = mqtts://localhost\n", "t.conf", &err), 0);
	CHECK_STR(c.mqtt_host, "127.0.0.1");
	CHECK_INT(c.mqtt_port, 8883);
	/* An empty url turns MQTT off again. */
	CHECK_INT(cd_config_parse_string(&c, "[mqtt]\nurl =\n", "t.conf", &err), 0);
	CHECK(c.mqtt_url == NULL);
	cd_config_done(&c);

	expect_error("[mqtt]\nurl = mqtt://broker.lan:1883\n", "t.conf:2: ", "no host names");
	expect_error("[mqtt]\nurl = http://127.0.0.1\n", "t.conf:2: ", "mqtt://ADDRESS");
	expect_error("[mqtt]\nurl = mqtt://127.0.0.1:0\n", "t.conf:2: ", "url");
	expect_error("[mqtt]\nurl = mqtt://127.0.0.1:70000\n", "t.conf:2: ", "url");
	expect_error("[mqtt]\nurl = mqtt://127.0.0.1:1883x\n", "t.conf:2: ", "url");
	expect_error("[mqtt]\nurl = mqtt://[::1\n", "t.conf:2: ", "url");
	expect_error("[mqtt]\nurl = mqtt://\n", "t.conf:2: ", "url");
	expect_error("[mqtt]\ntopic_prefix = a/#\n", "t.conf:2: ", "topic_prefix");
	expect_error("[mqtt]\ntopic_prefix = a/\n", "t.conf:2: ", "topic_prefix");
	expect_error("[mqtt]\ndiscovery_prefix =\n", "t.conf:2: ", "discovery_prefix");
	expect_error("[mqtt]\ndiscovery = perhaps\n", "t.conf:2: ", "discovery");
	expect_error("[mqtt]\npublish_interval_s = 0\n", "t.conf:2: ", "publish_interval_s");
	expect_error("[mqtt]\npassword_file =\n", "t.conf:2: ", "password_file");
	expect_error("[mqtt]\nport = 1\n", "t.conf:2: ", "unknown key 'port' in [mqtt]");
}

/* DESIGN §9.7: token_file, read_access, allow_remote, the D-Bus groups. */
static void test_authority(void)
{
	static const char *const remote[] = { "0.0.0.0:8080", "[::]:8080", "192.0.2.1:80",
					      "[2001:db8::1]:80" };
	static const char *const local[] = { "127.0.0.1:8080", "127.9.8.7:0", "[::1]:8080",
					     "localhost:8080" };
	struct cd_config c;
	_cleanup_free_ char *err = NULL;
	char text[256];

	CHECK_INT(cd_config_init(&c), 0);
	CHECK_STR(c.http_token_file, "/run/cardiod/api-token");
	CHECK(!c.http_read_token && !c.http_allow_remote);
	CHECK_STR(c.bus_manage_group, "cardiod");
	CHECK_STR(c.bus_read_group, "cardiod-readers");
	CHECK_INT(cd_config_parse_string(&c,
					 "[http]\ntoken_file = /tmp/t\nread_access = token\n"
					 "[bus]\nmanage_group = staff\nread_group = _fans-2\n",
					 "a.conf", &err),
		  0);
	CHECK_STR(c.http_token_file, "/tmp/t");
	CHECK(c.http_read_token);
	CHECK_STR(c.bus_manage_group, "staff");
	CHECK_STR(c.bus_read_group, "_fans-2");
	cd_config_done(&c);

	for (size_t i = 0; i < ELEMENTSOF(remote); i++) {
		snprintf(text, sizeof(text), "[http]\nlisten = %s\n", remote[i]);
		expect_error(text, "t.conf: ", "allow_remote");
		snprintf(text, sizeof(text), "[http]\nlisten = %s\nallow_remote = yes\n", remote[i]);
		CHECK_INT(cd_config_init(&c), 0);
		CHECK_INT(cd_config_parse_string(&c, text, "t.conf", &err), 0);
		CHECK_INT(cd_config_finish(&c, "t.conf", &err), 0);
		CHECK(c.http_allow_remote);
		cd_config_done(&c);
	}
	for (size_t i = 0; i < ELEMENTSOF(local); i++) {
		snprintf(text, sizeof(text), "[http]\nlisten = %s\n", local[i]);
		CHECK_INT(cd_config_init(&c), 0);
		CHECK_INT(cd_config_parse_string(&c, text, "t.conf", &err), 0);
		CHECK_INT(cd_config_finish(&c, "t.conf", &err), 0);
		cd_config_done(&c);
	}
	expect_error("[http]\ntoken_file = api-token\n", "t.conf:2: ", "absolute path");
	expect_error("[http]\nread_access = closed\n", "t.conf:2: ", "open or token");
	expect_error("[http]\nallow_remote = perhaps\n", "t.conf:2: ", "true or false");
	expect_error("[bus]\nmanage_group = Staff\n", "t.conf:2: ", "group name");
	expect_error("[bus]\nread_group = \n", "t.conf:2: ", "group name");
	expect_error("[bus]\nread_group = a b\n", "t.conf:2: ", "group name");
}

int main(void)
{
	test_authority();
	test_defaults();
	test_good();
	test_errors();
	test_ant();
	test_cli_override();
	test_files();
	test_mqtt();
	return check_exit("test-config");
}
