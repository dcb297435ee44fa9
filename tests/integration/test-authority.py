#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""HTTP authority (DESIGN §9.7, issue 11 item 6) against the real cardiod and
cardioctl: the token file, 401 without the token, read_access = token,
cardioctl --token-file / CARDIOD_TOKEN_FILE, a non-loopback listen refused
without allow_remote, and a token that cannot be written refusing writes.

Usage: test-authority.py CARDIOD CARDIOCTL
"""

import json
import os
import re
import stat
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from daemon_helpers import (Checker, Daemon, auth_headers, run_cardiod, token_of,  # noqa: E402
                            wait_for)

CARDIOD, CARDIOCTL = sys.argv[1:3]
t = Checker("test-authority")
tmp = tempfile.mkdtemp(prefix="cardiod-auth-")


def conf(name, text):
    p = os.path.join(tmp, name)
    with open(p, "w") as f:
        f.write(text)
    return p


def error_code(data):
    try:
        return json.loads(data)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


def cardioctl(*args, env=None):
    e = dict(os.environ)
    e.pop("CARDIOD_TOKEN_FILE", None)
    e.update(env or {})
    return subprocess.run([CARDIOCTL, *args], capture_output=True, text=True, timeout=60, env=e)


def start(name, *args, **kw):
    d = Daemon(CARDIOD, ["--config", conf(name + ".conf", kw.pop("config", "")),
                         "--db", os.path.join(tmp, name + ".db"), "--simulate", *args], tmp, **kw)
    t.check(d.wait_ready(), "%s: cardiod starts: %s" % (name, d.read_log()[-500:]))
    # The simulated strap's session has begun.
    t.check(wait_for(lambda: "Session 1 started" in d.read_log()),
            "%s: a session starts: %s" % (name, d.read_log()[-500:]))
    return d


def test_token_and_writes():
    d = start("open")
    tok = d.token
    t.check(tok is not None and re.fullmatch(r"[0-9a-f]{64}", tok),
            "the token is 64 hex digits: %r" % tok)
    st = os.stat(d.token_file)
    mode = stat.S_IMODE(st.st_mode)
    t.check(mode == 0o640, "token file mode 0640 (got %o)" % mode)
    import grp
    want = os.getegid()
    if _group("cardiod"):
        g = grp.getgrnam("cardiod").gr_gid
        if os.geteuid() == 0 or g in os.getgroups():
            want = g
    t.check(st.st_gid == want, "token file group: cardiod when it exists and may be given, "
            "else ours (want %d, got %d)" % (want, st.st_gid))
    t.check(token_of(d) == tok and token_of(d.token_file) == tok, "token_of() reads it")

    # Writes without the token, with a wrong one, or twice: 401, JSON, WWW-Authenticate.
    for what, headers in (("no token", {}),
                          ("wrong token", {"Authorization": "Bearer " + "0" * 64}),
                          ("a prefix of it", {"Authorization": "Bearer " + tok[:32]}),
                          ("Basic scheme", {"Authorization": "Basic " + tok})):
        status, data = d.request("POST", "/session/stop", body="{}", headers=headers, auth=False)
        t.check(status == 401 and error_code(data) == "unauthorized",
                "POST with %s: 401 unauthorized (got %r %r)" % (what, status, data[:200]))
    # The header, seen through a raw client.
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=10)
    c.request("POST", "/session/start", body="{}",
              headers={"Host": "localhost", "Content-Type": "application/json"})
    r = c.getresponse()
    www = r.getheader("WWW-Authenticate") or ""
    r.read()
    c.close()
    t.check(r.status == 401 and www.startswith("Bearer"), "WWW-Authenticate: Bearer (%r)" % www)
    status, data = d.request("POST", "/session/stop", body="{}")
    t.check(status == 200 and json.loads(data)["state"] == "ended",
            "POST stop with the token: %r %r" % (status, data[:200]))
    status, data = d.request("POST", "/session/start", body="{}",
                             headers=auth_headers(d), auth=False)
    t.check(status == 200 and json.loads(data)["state"] == "active",
            "POST start with auth_headers(): %r" % status)
    # Reads stay open on loopback by default, for curl and every local user.
    for path in ("/session", "/sessions", "/devices", "/healthz"):
        status, _ = d.request("GET", path, auth=False)
        t.check(status == 200, "GET %s without a token: 200 (got %r)" % (path, status))
    r = cardioctl("sessions", "--url", "http://127.0.0.1:%d" % d.port, "--json",
                  "--token-file", os.path.join(tmp, "missing"))
    t.check(r.returncode == 0, "cardioctl reads without a token file: %r" % r.stderr)
    t.check(tok not in d.read_log(), "the token never reaches the log")
    # A fresh token at every start.
    d2 = start("open2")
    t.check(d2.token and d2.token != tok, "every start makes a new token")
    t.check(d2.stop() == 0 and d.stop() == 0, "clean exits")


def test_token_group():
    """As root the file goes to [bus] manage_group (default cardiod) when it exists."""
    import grp
    if os.geteuid() != 0:
        print("token group: not root, only the default checked")
        return
    other = next((g for g in ("daemon", "nogroup", "bin") if _group(g)), None)
    if not t.check(other is not None, "a system group to hand the token to"):
        return
    d = start("group", "--manage-group", other)
    gid = os.stat(d.token_file).st_gid
    t.check(gid == grp.getgrnam(other).gr_gid,
            "token file group follows manage_group %s (got gid %d)" % (other, gid))
    t.check(d.stop() == 0, "clean exit")


def _group(name):
    import grp
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


def test_read_token():
    d = start("closed", config="[http]\nread_access = token\n")
    url = "http://127.0.0.1:%d" % d.port
    for path in ("/session", "/sessions", "/healthz", "/no-such-route"):
        status, data = d.request("GET", path, auth=False)
        t.check(status == 401 and error_code(data) == "unauthorized",
                "read_access = token: GET %s without it is 401 (got %r)" % (path, status))
    status, _ = d.request("GET", "/session", auth=True)
    t.check(status == 200, "read_access = token: GET /session with it (got %r)" % status)

    r = cardioctl("sessions", "--url", url, "--json", "--token-file", d.token_file)
    t.check(r.returncode == 0 and "sessions" in json.loads(r.stdout or "{}"),
            "cardioctl sessions --token-file: %r" % r.stderr)
    r = cardioctl("sessions", "--url", url, "--json", env={"CARDIOD_TOKEN_FILE": d.token_file})
    t.check(r.returncode == 0, "cardioctl with CARDIOD_TOKEN_FILE: %r" % r.stderr)
    missing = os.path.join(tmp, "no-such-token")
    r = cardioctl("sessions", "--url", url, "--token-file", missing)
    t.check(r.returncode == 1 and "401" in r.stderr and missing in r.stderr
            and r.stderr.count("\n") == 1,
            "cardioctl without the token: one clear line, exit 1: %r" % r.stderr)
    wrong = conf("wrong-token", "ab" * 32 + "\n")
    r = cardioctl("show", "1", "--url", url, "--token-file", wrong)
    t.check(r.returncode == 1 and "401" in r.stderr, "cardioctl with a stale token: %r" % r.stderr)
    t.check(d.stop() == 0, "clean exit")


def test_remote_refused():
    for args, cfg, what in ((["--listen", "0.0.0.0:0"], "", "--listen 0.0.0.0"),
                            (["--listen", "[::]:0"], "", "--listen [::]"),
                            ([], "[http]\nlisten = 192.0.2.1:8080\n", "listen = 192.0.2.1")):
        rc, err = run_cardiod(CARDIOD, ["--config", conf("remote.conf", cfg),
                                        "--db", os.path.join(tmp, "remote.db"),
                                        "--token-file", os.path.join(tmp, "remote-token"), *args])
        t.check(rc == 2 and "allow_remote" in err and "Ready" not in err,
                "%s without allow_remote: refused with exit 2 (got %r %r)" % (what, rc, err))
    rc, err = run_cardiod(CARDIOD, ["--config", conf("remote.conf", "[http]\nallow_remote = maybe\n"),
                                    "--db", os.path.join(tmp, "remote.db")])
    t.check(rc == 2 and "allow_remote" in err, "allow_remote = maybe refused: %r" % err)
    rc, err = run_cardiod(CARDIOD, ["--config", conf("remote.conf", "[http]\nread_access = some\n"),
                                    "--db", os.path.join(tmp, "remote.db")])
    t.check(rc == 2 and "read_access" in err, "read_access = some refused: %r" % err)


def test_unwritable_token():
    where = os.path.join(tmp, "no-such-dir", "api-token")
    d = start("unwritable", token_file=None, config="[http]\ntoken_file = %s\n" % where)
    log = d.read_log()
    t.check("Cannot write the API token" in log and where in log,
            "an unwritable token file is logged: %r" % log[-400:])
    for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer " + "0" * 64}):
        status, _ = d.request("POST", "/session/stop", body="{}", headers=headers, auth=False)
        t.check(status == 401, "no token written: every POST refused (got %r)" % status)
    status, _ = d.request("GET", "/session", auth=False)
    t.check(status == 200, "no token written: reads still served (got %r)" % status)
    t.check(d.stop() == 0, "clean exit")


test_token_and_writes()
test_token_group()
test_read_token()
test_remote_refused()
test_unwritable_token()
t.finish()
