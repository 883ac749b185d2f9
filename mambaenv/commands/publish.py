"""publish: wheels, folders of wheels or bundles into a wheelhouse that pip and uv read."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mambaenv.publish import PublishResult, check_gpu_archs, publish


@dataclass(frozen=True)
class PublishRequest:
    sources: tuple[str, ...]
    to: str
    gpu_arch: str | None = None  # compute capabilities the wheels were built for, e.g. 9.0


def publish_cmd(req: PublishRequest) -> PublishResult:
    return publish([Path(s) for s in req.sources], Path(req.to), gpu_archs=check_gpu_archs(req.gpu_arch))
