#!/usr/bin/env python3
"""Start Podman's API services for the tests, as tools/start_dockerd.py starts dockerd: root's (rootful, at
/run/podman/podman.sock) and a rootless one for the user ``mambaenv-rootless`` (made here, with subordinate ids).

On machines where root may not raise resource limits (no CAP_SYS_RESOURCE, as on these VMs and inside containers),
Podman's default rlimits make every container fail ("error setting rlimit type 7: operation not permitted"); a
containers.conf drop-in then keeps the host's limits (``default_ulimits = []``).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOTFUL_SOCKET = "/run/podman/podman.sock"
ROOTLESS_USER = "mambaenv-rootless"
DROP_IN = Path("/etc/containers/containers.conf.d/mambaenv-ulimits.conf")
LOG = "/tmp/mambaenv-podman.log"
CAP_SYS_RESOURCE = 24


def can_raise_rlimits() -> bool:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) >> CAP_SYS_RESOURCE & 1)
    return True


def answers(socket: str) -> bool:
    cmd = ["podman", "--remote", "--url", f"unix://{socket}", "version"]
    return subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


def start_service(socket: str, prefix: list[str], env: dict) -> bool:
    if answers(socket):
        return True
    log = open(LOG, "ab")
    subprocess.Popen(prefix + ["podman", "system", "service", "--time=0", f"unix://{socket}"], stdout=log, stderr=log,
                     start_new_session=True, env=env)
    for _ in range(60):
        if answers(socket):
            return True
        time.sleep(0.5)
    return False


def rootless_user() -> tuple[list[str], dict, str] | None:
    """The test user with subordinate ids and a runtime folder; None where users cannot be made (not root)."""
    if os.geteuid() != 0 or not shutil.which("useradd") or not shutil.which("runuser"):
        return None
    if subprocess.run(["id", ROOTLESS_USER], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", ROOTLESS_USER], check=True)
    uid = subprocess.run(["id", "-u", ROOTLESS_USER], capture_output=True, text=True, check=True).stdout.strip()
    for table in ("/etc/subuid", "/etc/subgid"):
        text = Path(table).read_text() if Path(table).exists() else ""
        if not any(line.startswith(f"{ROOTLESS_USER}:") for line in text.splitlines()):
            Path(table).write_text(text + f"{ROOTLESS_USER}:200000:65536\n")
    runtime = Path(f"/run/user/{uid}")
    for folder in (runtime, runtime / "podman"):
        folder.mkdir(parents=True, exist_ok=True)
        shutil.chown(folder, ROOTLESS_USER, ROOTLESS_USER)
        folder.chmod(0o700)
    env = {"PATH": os.environ["PATH"], "HOME": f"/home/{ROOTLESS_USER}", "XDG_RUNTIME_DIR": str(runtime), "USER": ROOTLESS_USER}
    return ["runuser", "-u", ROOTLESS_USER, "--"], env, f"{runtime}/podman/podman.sock"


def main() -> int:
    if not shutil.which("podman"):
        print("podman not installed; Podman tests will be skipped", file=sys.stderr)
        return 0
    if not can_raise_rlimits() and os.geteuid() == 0 and not DROP_IN.exists():
        DROP_IN.parent.mkdir(parents=True, exist_ok=True)
        DROP_IN.write_text("# written by mambaenv's tools/start_podman.py: root here may not raise rlimits (no CAP_SYS_RESOURCE)\n"
                           "[containers]\ndefault_ulimits = []\n")
    Path(ROOTFUL_SOCKET).parent.mkdir(parents=True, exist_ok=True)
    ok = start_service(ROOTFUL_SOCKET, [], dict(os.environ))
    print("podman service (rootful) " + ("answers at " + ROOTFUL_SOCKET if ok else f"did not start; see {LOG}"))
    rootless = rootless_user()
    if rootless:
        prefix, env, socket = rootless
        ok = start_service(socket, prefix, env)
        print(f"podman service (rootless, {ROOTLESS_USER}) " + ("answers at " + socket if ok else f"did not start; see {LOG}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
