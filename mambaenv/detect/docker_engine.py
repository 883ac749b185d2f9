"""Ask a local Docker engine for its `info` over its Unix socket, with the standard library only.

doctor only needs two facts from the engine (its version, and whether the NVIDIA runtime is registered). The
Docker SDK brings requests and urllib3 with it: importing it cost doctor 0.2 s of its 0.5 s. Everything that
changes the engine (build, run, save, push) still goes through the SDK (mambaenv/docker.py).
"""
from __future__ import annotations

import http.client
import json
import os
import socket
import stat
import threading

DEFAULT_SOCKET = "/var/run/docker.sock"
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


def _get_info(path: str, timeout: float) -> dict:
    conn = _UnixConnection(path, timeout)
    try:
        conn.request("GET", "/info", headers={"Accept": "application/json"})
        resp = conn.getresponse()
        body = resp.read(MAX_INFO_BYTES + 1)
    finally:
        conn.close()
    if len(body) > MAX_INFO_BYTES:
        raise ValueError(f"the engine at {path} sent more than {MAX_INFO_BYTES // (1024 * 1024)} MiB for /info")
    if resp.status != 200:
        try:
            said = json.loads(body).get("message")
        except (ValueError, AttributeError):
            said = None
        raise ValueError(f"the engine at {path} answered HTTP {resp.status} to /info" + (f": {said}" if said else ""))
    info = json.loads(body)
    if not isinstance(info, dict):
        raise ValueError(f"the engine at {path} sent something other than a JSON object for /info")
    return info


def engine_info(path: str, timeout: float = 3.0) -> dict:
    """``GET /info`` on the engine at ``path``, answered within ``timeout`` in all (an engine that drips a byte at a
    time must not hang doctor); raises OSError or ValueError naming the path and the cause."""
    result: dict = {}

    def ask():
        try:
            result["info"] = _get_info(path, timeout)
        except Exception as e:  # handed to the caller's thread as is
            result["error"] = e

    worker = threading.Thread(target=ask, daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise TimeoutError(f"the Docker engine at {path} did not answer within {timeout:g} s")
    if "error" in result:
        raise result["error"]
    return result["info"]


def info_from_env(timeout: float = 3.0) -> dict | None:
    """The local engine's info, or None when DOCKER_HOST names an engine only the SDK reaches."""
    path = local_socket(os.environ.get("DOCKER_HOST"))
    return None if path is None else engine_info(path, timeout)
