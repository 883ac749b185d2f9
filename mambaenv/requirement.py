"""Requirement strings read with packaging: a wheel's Requires-Dist for a dependency download, a freeze line's name."""
from __future__ import annotations

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name


def dependencies_to_download(requires: list[str], leave_out: tuple[str, ...] = ("torch",)) -> list[str]:
    """Requires-Dist lines -> what ``pip download`` should fetch: extras-only lines and ``leave_out`` dropped, markers
    dropped too (pip download for another Python evaluates them against this one, so they are decided by the caller)."""
    skip = {canonicalize_name(n) for n in leave_out}
    out = []
    for line in requires:
        req = Requirement(line)
        if req.marker is not None and "extra" in str(req.marker):
            continue
        if canonicalize_name(req.name) in skip:
            continue
        req.marker = None
        out.append(str(req))
    return sorted(set(out))


def distribution_name(freeze_line: str) -> str | None:
    """``Torch==2.1.2`` / ``mamba_ssm @ file:///w.whl`` -> ``torch`` / ``mamba-ssm``; None for lines that name no distribution."""
    try:
        return canonicalize_name(Requirement(freeze_line.strip()).name)
    except InvalidRequirement:
        return None  # "-e ..." and comments
