"""inspect: what one wheel file was built for, read from its name, its metadata and its libraries."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class InspectRequest:
    wheel: str


@dataclass
class InspectResult:
    info: object  # wheel.WheelInfo

    def to_dict(self) -> dict:
        return self.info.to_dict()


def inspect(req: InspectRequest) -> InspectResult:
    from mambaenv.wheel import inspect_wheel  # start-up: the ELF reader loads only for inspect

    return InspectResult(inspect_wheel(Path(req.wheel)))
