#!/usr/bin/env python3
"""Start dockerd in the background when no Docker engine answers; wait until it does (or give up)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time


def answers() -> bool:
    return subprocess.run(["docker", "info"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


def main() -> int:
    if not shutil.which("docker") or not shutil.which("dockerd"):
        print("docker engine not installed; Docker tests will be skipped", file=sys.stderr)
        return 0
    if answers():
        return 0
    log = open("/tmp/mambaenv-dockerd.log", "ab")
    subprocess.Popen(["dockerd"], stdout=log, stderr=log, start_new_session=True, env=dict(os.environ))
    for _ in range(60):
        if answers():
            print("dockerd started")
            return 0
        time.sleep(1)
    print("dockerd did not start; see /tmp/mambaenv-dockerd.log. Docker tests will be skipped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
