"""inspect: what wheel files were built for, read from their names, their metadata and their libraries."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mambaenv.errors import BadWheel


@dataclass(frozen=True)
class InspectRequest:
    wheels: tuple[str, ...]  # one or more files (what a shell glob expands to)


@dataclass
class InspectResult:
    infos: list  # wheel.WheelInfo, one per file

    def to_dict(self):
        """One file's facts as an object (as always); several files' as a list of them."""
        facts = [i.to_dict() for i in self.infos]
        return facts[0] if len(facts) == 1 else facts


def inspect(req: InspectRequest) -> InspectResult:
    from mambaenv.wheel import inspect_wheel  # start-up: the ELF reader loads only for inspect

    paths = [Path(w) for w in req.wheels]
    for p in paths:
        if not p.exists() and any(c in p.name for c in "*?["):  # the shell passes a pattern that matched nothing as it is
            raise BadWheel(f"no file matches {p}", "check the folder and the pattern (ls shows what is there)")
    return InspectResult([inspect_wheel(p) for p in paths])
