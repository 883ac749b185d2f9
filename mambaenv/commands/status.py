"""The status line a long command shows while it works (plain lines without a terminal), or none for --json."""
from __future__ import annotations

import contextlib

from mambaenv.render import StatusLine


def status_line(quiet: bool):
    """(callback, context): a StatusLine and itself, or (None, a null context) for --json."""
    if quiet:
        return None, contextlib.nullcontext()
    line = StatusLine()
    return line, line
