"""Which container engine ``mambaenv docker`` talks to, and what it says about itself, with the standard library only.

Docker and Podman (through its Docker-compatible API, or its CLI where no API service runs) are both engines here.
The engine is chosen as their users expect, in this order:

1. ``--engine`` / ``MAMBAENV_ENGINE``: ``docker``, ``podman`` (its API socket when one answers, else its CLI) or
   ``podman-cli``;
2. ``DOCKER_HOST``, as the docker CLI and SDK read it (it may well be Podman's socket: ``/version`` tells);
3. ``CONTAINER_HOST``, as Podman's remote client reads it;
4. discovery: Docker's socket (rootful, then rootless), Podman's socket (this user's: rootful for root, else
   ``$XDG_RUNTIME_DIR/podman/podman.sock``), then the ``podman`` binary.

doctor only needs a few facts from an engine (its kind and version, NVIDIA runtime, CDI): asking them over the Unix
socket keeps the Docker SDK (requests, urllib3: 0.2 s of doctor's 0.5 s) out of doctor. Everything that changes
the engine (build, run, save, push) goes through mambaenv/engines.
"""
from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import stat
import subprocess
import threading

from mambaenv.detect import cdi
from mambaenv.detect.engine_facts import (
    CDI_DOCKER_MIN,
    DEFAULT_SOCKET,
    ENGINE_NAMES,
    GPU_KIND,
    DockerFacts,
    Endpoint,
    choose_endpoint,
    docker_sockets,
    gpu_access,
    kind_from_version,
    podman_socket,
    version_tuple,
)

MAX_INFO_BYTES = 4 * 1024 * 1024  # a real /info is a few KiB; an engine that sends more is not one to trust


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except OSError as e:
            sock.close()
            raise _explained(e, self.socket_path) from None
        self.sock = sock


def _explained(e: OSError, path: str) -> OSError:
    """The socket error in words that name the path and the likely cause."""
    if isinstance(e, FileNotFoundError):
        return FileNotFoundError(f"no Docker engine socket at {path}")
    if isinstance(e, PermissionError):
        return PermissionError(f"no permission to use {path} (the docker group, or rootless Docker's own socket)")
    try:
        is_socket = stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        is_socket = True
    if not is_socket:
        return OSError(f"{path} is not a socket")
    if isinstance(e, ConnectionRefusedError):
        return ConnectionRefusedError(f"nothing listens on {path} (the engine is stopped)")
    return e


def local_socket(docker_host: str | None) -> str | None:
    """The engine's Unix socket for ``DOCKER_HOST`` (unset: the default one); None for tcp://, ssh:// and the like,
    which the SDK handles (TLS, contexts of its own). ``unix://var/run/docker.sock`` means the absolute path, as
    for the SDK."""
    value = (docker_host or "").strip()
    if not value:
        return DEFAULT_SOCKET
    if value.startswith("unix://"):
        path = value[len("unix://"):]
        return ("/" + path.lstrip("/")) if path else DEFAULT_SOCKET
    return None


def _get_info(path: str, timeout: float, what: str = "/info") -> dict:
    conn = _UnixConnection(path, timeout)
    try:
        conn.request("GET", what, headers={"Accept": "application/json"})
        resp = conn.getresponse()
        body = resp.read(MAX_INFO_BYTES + 1)
    finally:
        conn.close()
    if len(body) > MAX_INFO_BYTES:
        raise ValueError(f"the engine at {path} sent more than {MAX_INFO_BYTES // (1024 * 1024)} MiB for {what}")
    if resp.status != 200:
        try:
            said = json.loads(body).get("message")
        except (ValueError, AttributeError):
            said = None
        raise ValueError(f"the engine at {path} answered HTTP {resp.status} to {what}" + (f": {said}" if said else ""))
    info = json.loads(body)
    if not isinstance(info, dict):
        raise ValueError(f"the engine at {path} sent something other than a JSON object for {what}")
    return info


def within(timeout: float, call, path: str):
    """``call()`` answered within ``timeout`` in all (an engine that drips a byte at a time must not hang doctor)."""
    result: dict = {}

    def ask():
        try:
            result["value"] = call()
        except Exception as e:  # handed to the caller's thread as is
            result["error"] = e

    worker = threading.Thread(target=ask, daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise TimeoutError(f"the container engine at {path} did not answer within {timeout:g} s")
    if "error" in result:
        raise result["error"]
    return result["value"]


class NoEngine(Exception):
    """No engine to talk to, or an engine name nobody knows; the message says which."""


def _is_socket(path: str) -> bool:
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False


def endpoint(env: dict | None = None) -> Endpoint:
    """The engine to use here (engine_facts.choose_endpoint over this machine's sockets and PATH)."""
    env = dict(os.environ if env is None else env)
    chosen = (env.get("MAMBAENV_ENGINE") or "").strip()
    if chosen and chosen not in ENGINE_NAMES:
        raise NoEngine(f"MAMBAENV_ENGINE={chosen} names no engine mambaenv knows (docker, podman, podman-cli)")
    uid, runtime_dir = os.getuid(), env.get("XDG_RUNTIME_DIR")
    candidates = docker_sockets(uid, runtime_dir) + [p for p in [podman_socket(uid, runtime_dir)] if p]
    found = choose_endpoint(env, {p for p in candidates if _is_socket(p)}, shutil.which("podman"), uid)
    if found is None:
        raise NoEngine("no container engine here: no Docker socket (" + ", ".join(docker_sockets(uid, runtime_dir))
                       + "), no Podman socket, no podman on PATH")
    return found


def _podman_cli_info(binary: str, timeout: float) -> dict:
    out = subprocess.run([binary, "info", "--format", "json"], capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise OSError(f"podman info failed: {(out.stderr.strip().splitlines() or ['no output'])[-1][:200]}")
    return json.loads(out.stdout)


def _podman_facts(facts: DockerFacts, info: dict) -> None:
    """From Podman's own info (``podman info --format json`` or ``/libpod/info``): host.security, version."""
    security = (info.get("host") or {}).get("security") or {}
    facts.rootless = bool(security.get("rootless"))
    facts.selinux = bool(security.get("selinuxEnabled"))
    facts.server_version = facts.server_version or (info.get("version") or {}).get("Version")


def _docker_facts(facts: DockerFacts, info: dict) -> None:
    """From Docker's ``/info``: SecurityOptions name=rootless / name=selinux, Runtimes, CDISpecDirs (25.0+)."""
    options = " ".join(info.get("SecurityOptions") or [])
    facts.rootless = "name=rootless" in options
    facts.selinux = "name=selinux" in options
    facts.nvidia_runtime = "nvidia" in (info.get("Runtimes") or {})
    if version_tuple(facts.server_version) >= CDI_DOCKER_MIN:
        facts.cdi_dirs = tuple(info.get("CDISpecDirs") or ())


def _ask_api(facts: DockerFacts, path: str, timeout: float) -> None:
    """/version says which engine; then Docker's /info or Podman's /libpod/info, all within one deadline."""
    def ask():
        version = _get_info(path, timeout, "/version")
        return version, _get_info(path, timeout, "/v4.0.0/libpod/info" if kind_from_version(version) == "podman" else "/info")

    version, info = within(timeout, ask, path)
    facts.kind, facts.server_version = kind_from_version(version), version.get("Version")
    (_podman_facts if facts.kind == "podman" else _docker_facts)(facts, info)


def _ask_sdk(facts: DockerFacts, address: str, timeout: float) -> None:
    import docker  # start-up: the Docker SDK (and requests) loads only for an engine it alone reaches (tcp://, ssh://)

    c = docker.DockerClient(base_url=address, timeout=int(timeout) or 1, version="auto")
    facts.kind = kind_from_version(c.version())
    facts.server_version = c.version().get("Version")
    _docker_facts(facts, c.info())


def detect_engine(timeout: float = 3.0, env: dict | None = None) -> DockerFacts:
    """The chosen engine's facts; a failure is a note (doctor reports it), never raised."""
    facts = DockerFacts(cli=shutil.which("docker") or shutil.which("podman"))
    try:
        where = endpoint(env)
        facts.kind, facts.via, facts.address, facts.chosen_by = where.kind, where.via, where.address, where.chosen_by
        path = local_socket(where.address) if where.via == "api" else None
        if where.via == "cli":
            _podman_facts(facts, _podman_cli_info(where.address, max(timeout, 10.0)))
        elif path:
            _ask_api(facts, path, timeout)
        else:
            _ask_sdk(facts, where.address, timeout)
        facts.reachable = True
    except Exception as e:  # no engine, no permission, no SDK: a fact, not a crash
        facts.note = f"{type(e).__name__}: {str(e)[:200]}"
        return facts
    if facts.kind == "podman":
        facts.cdi_dirs = cdi.spec_dirs(env)
    facts.gpu_kind = (os.environ if env is None else env).get("MAMBAENV_CDI_GPU_KIND") or GPU_KIND
    facts.gpu_devices = tuple(cdi.devices_of(cdi.read_specs(facts.cdi_dirs), facts.gpu_kind)) if facts.cdi_dirs else ()
    facts.gpu_method, facts.gpu_fix = gpu_access(facts)
    return facts
