# SPDX-License-Identifier: MIT
"""Helpers for the cardiod integration tests: start the real daemon on a
free port, talk HTTP with http.client, compare session objects."""

import atexit
import http.client
import json
import math
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time


class Checker:
    def __init__(self, name):
        self.name = name
        self.passed = 0
        self.failed = 0

    def check(self, cond, what):
        if cond:
            self.passed += 1
        else:
            self.failed += 1
            print("FAIL: " + what, file=sys.stderr, flush=True)
        return cond

    def finish(self):
        print("%s: %d passed, %d failed" % (self.name, self.passed, self.failed))
        sys.exit(1 if self.failed else 0)


_started = []


def wrapper():
    """CARDIOD_WRAPPER="valgrind --leak-check=full ...": run every cardiod
    under it (bench/valgrind).  Empty by default."""
    return shlex.split(os.environ.get("CARDIOD_WRAPPER", ""))


@atexit.register
def _kill_leftovers():
    # A test that fails with an exception must not leave daemons behind.
    for p in _started:
        if p.poll() is None:
            p.kill()
            p.wait()


def token_of(where):
    """The API token (DESIGN §9.7) of a Daemon, or read from a token file path
    or from the directory holding a file named api-token; None when absent."""
    path = where.token_file if isinstance(where, Daemon) else where
    if path and os.path.isdir(path):
        path = os.path.join(path, "api-token")
    try:
        with open(path) as f:
            return f.read().strip()
    except (OSError, TypeError):
        return None


def auth_headers(token, headers=None):
    """headers (a dict, copied) plus Authorization: Bearer token.  token may be
    a Daemon, a token file or directory (see token_of) or the token itself."""
    if not isinstance(token, str) or os.path.sep in token:
        token = token_of(token)
    h = dict(headers or {})
    h["Authorization"] = "Bearer %s" % token
    return h


class Daemon:
    """cardiod in the background, stderr in a file, its port parsed from the log.

    The daemon writes its API token to self.token_file: the test's own
    --token-file in args if it passes one, else a fresh file in workdir, or
    with token_file=None the daemon's default (the config's token_file).
    request() sends the token with every request but GET and HEAD unless
    auth=False; auth=True sends it with reads too."""

    def __init__(self, exe, args, workdir, env=None, token_file=True):
        stamp = time.monotonic_ns()
        self.token_file = None
        extra = []
        if "--token-file" in args[:-1]:
            self.token_file = args[args.index("--token-file") + 1]
        elif token_file:
            if token_file is True:
                token_file = os.path.join(workdir, "api-token-%d" % stamp)
            self.token_file = os.path.abspath(token_file)
            extra = ["--token-file", self.token_file]
        self.log_path = os.path.join(workdir, "cardiod-%d.log" % stamp)
        self.log = open(self.log_path, "w")
        e = dict(os.environ)
        e.pop("NOTIFY_SOCKET", None)
        e.pop("LISTEN_FDS", None)
        if env:
            e.update(env)
        self.proc = subprocess.Popen([*wrapper(), exe, "--listen", "127.0.0.1:0", "--bus", "none",
                                      "--no-ble", "--no-ant", *extra, *args],
                                     stdout=subprocess.DEVNULL, stderr=self.log, env=e)
        _started.append(self.proc)
        self.port = None

    def wait_ready(self, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(r"Ready: HTTP on [^:]+:(\d+)", self.read_log())
            if m:
                self.port = int(m.group(1))
                return True
            if self.proc.poll() is not None:
                return False
            time.sleep(0.05)
        return False

    def read_log(self):
        with open(self.log_path) as f:
            return f.read()

    @property
    def token(self):
        return token_of(self.token_file)

    def request(self, method, path, body=None, headers=None, auth=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        h = {"Host": "localhost:%d" % self.port}
        if body is not None:
            h["Content-Type"] = "application/json"
        if auth or (auth is None and method not in ("GET", "HEAD")):
            h = auth_headers(self.token, h)
        h.update(headers or {})
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, data

    def get_json(self, path):
        status, data = self.request("GET", path)
        try:
            return status, json.loads(data)
        except ValueError:
            return status, None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout=20):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.wait()
        self.log.close()
        return rc


def run_cardiod(exe, args, timeout=20):
    """Run cardiod expecting it to exit by itself (bad config etc.)."""
    p = subprocess.run([*wrapper(), exe, "--bus", "none", "--no-ble", "--no-ant", *args],
                       capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stderr


# Keys that legitimately differ between a daemon session and `cardioctl analyze`.
IGNORED = {"id", "state", "kind", "device", "started_at", "ended_at", "last_sample_at",
           "disclaimer", "battery_pct", "name"}


def compare(a, b, path="", tol=1e-6, ignored=IGNORED):
    """Field-by-field differences between two session objects (numbers within tol)."""
    diffs = []
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k in ignored:
                continue
            if k not in a or k not in b:
                diffs.append("%s.%s missing on one side" % (path, k))
                continue
            diffs += compare(a[k], b[k], path + "." + k, tol, ignored)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return ["%s: %d vs %d items" % (path, len(a), len(b))]
        for i, (x, y) in enumerate(zip(a, b)):
            diffs += compare(x, y, "%s[%d]" % (path, i), tol, ignored)
    elif isinstance(a, bool) or isinstance(b, bool) or a is None or b is None \
            or isinstance(a, str) or isinstance(b, str):
        if a != b:
            diffs.append("%s: %r vs %r" % (path, a, b))
    else:
        if not (math.isclose(a, b, rel_tol=0, abs_tol=tol)):
            diffs.append("%s: %r vs %r" % (path, a, b))
    return diffs


def analyze(cardioctl, csv_path, *opts):
    p = subprocess.run([cardioctl, "analyze", csv_path, "--json", *opts],
                       capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError("cardioctl analyze %s: %s" % (csv_path, p.stderr))
    return json.loads(p.stdout)


def wait_for(pred, timeout=20, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return None


def run_scenarios(argv, scenarios, make_env, failure, doc):
    """The scenario runner of test_ble.py and test_ant.py.

    argv: CARDIOD [NAME...] or --list.  scenarios maps a name to (fn, kwargs):
    make_env(cardiod, **kwargs) builds the scene, fn(env) plays it and raises
    failure (or anything) when a check fails; env.close(ok) tears it down and
    returns the final verdict (it may find more, e.g. a bad exit status).
    """
    import traceback

    if len(argv) >= 2 and argv[1] == "--list":
        print("\n".join(scenarios))
        return 0
    if len(argv) < 2:
        print(doc, file=sys.stderr)
        return 2
    cardiod = argv[1]
    names = argv[2:] or list(scenarios)
    passed = failed = 0
    for name in names:
        fn, kw = scenarios[name]
        t0 = time.monotonic()
        env = None
        ok = False
        try:
            env = make_env(cardiod, **kw)
            fn(env)
            ok = True
        except failure as e:
            print("FAIL %s: %s" % (name, e), file=sys.stderr)
        except Exception:
            print("FAIL %s: exception" % name, file=sys.stderr)
            traceback.print_exc()
        if env is not None:
            ok = env.close(ok)
        print("%s %s (%.1f s)" % ("PASS" if ok else "FAIL", name, time.monotonic() - t0))
        passed += ok
        failed += not ok
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1
