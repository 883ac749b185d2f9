"""Make a diagnosis's fix concrete with the target env's facts: the exact wheel, the matching package."""
from __future__ import annotations

from mambaenv.explain.context import Context


def tailor(d, ctx: Context):
    return d
