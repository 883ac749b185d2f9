"""The container engines mambaenv drives, behind one set of methods: Docker or Podman through the Docker-compatible
API (engines/api.py, the Docker SDK), or Podman through its CLI where no API service runs (engines/podman_cli.py).

The records below are what mambaenv reads back from an engine, and ``RunSpec`` is one container to create, decided
in mambaenv/docker.py before any engine is asked.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ImageInfo:
    id: str
    tags: tuple[str, ...]
    labels: dict
    env: dict


@dataclass(frozen=True)
class ContainerInfo:
    id: str  # the full id (64 hex digits)
    name: str
    status: str  # created | running | exited | ...
    image: str
    labels: dict

    @property
    def short_id(self) -> str:
        return self.id[:12]


@dataclass(frozen=True)
class RunSpec:
    """One container, as data: every engine creates it from this, field by field (never a ``src:dst:mode`` string,
    which breaks on a ``:`` in a path)."""

    image: str
    command: tuple[str, ...]
    source: str | None  # the project's real path, mounted at /workspace (None: nothing mounted, e.g. probing an image)
    read_only: bool = False
    relabel: str | None = None  # "z" where SELinux labels files: the project is relabelled for containers
    user: str | None = None  # uid:gid inside; None with userns keep-id (Podman then runs as the caller)
    userns: str | None = None  # "keep-id" for rootless Podman: the caller's uid is the same inside and out
    shm_size: str = "8g"
    labels: dict = field(default_factory=dict)
    environment: dict = field(default_factory=dict)
    gpu_requests: str | None = None  # --gpus for device requests (Docker's NVIDIA runtime): all, N or ids
    cdi_devices: tuple[str, ...] = ()  # CDI device names: nvidia.com/gpu=all, example.com/fake=one
    network: str | None = None
    name: str | None = None
    interactive: bool = False  # a terminal: tty and stdin kept open
    target: str = "/workspace"


class EngineOperationError(Exception):
    """An engine refused or failed an operation; ``str()`` is the engine's own words (mambaenv/docker.py adds the fix)."""


class NotFound(EngineOperationError):
    """No such image or container."""
