"""A transfer cut where the server says (``Route.hold_at``), and the client's own record of what it received.

Tests and benchmarks that interrupt a download (a full disk, Ctrl-C, a kill) wait for a state, not a time: every
connection held by the server and the client's saved progress caught up with what it was sent.
"""
from __future__ import annotations

import json
import time
from pathlib import Path


def saved_segments(cache: Path) -> list[list[int]]:
    """[start, end, done] of every segment the downloader has recorded (what a rerun resumes from)."""
    out = []
    for meta in (Path(cache) / "downloads" / "partial").glob("*.json"):
        out += json.loads(meta.read_text())["segments"]
    return out


def asked_again(requests: list, segments: list[list[int]]) -> list[str]:
    """Range requests that start inside bytes already saved: a resume asks only for the rest (and for the last 4 KiB of
    a saved segment, to check that the server still has the same file)."""
    again = []
    for _method, _path, headers in requests:
        rng = headers.get("Range", "")
        if rng.startswith("bytes=") and rng != "bytes=0-0":
            start = int(rng[6:].split("-")[0])
            if any(s <= start < s + done - 4096 for s, _e, done in segments):
                again.append(rng)
    return again


def saved_progress(cache: Path) -> int:
    """Bytes the downloader has recorded as received in its resumable state (what a rerun starts from)."""
    total = 0
    for meta in (Path(cache) / "downloads" / "partial").glob("*.json"):
        try:
            total += sum(seg[2] for seg in json.loads(meta.read_text())["segments"])
        except (OSError, ValueError, KeyError, TypeError):
            pass  # replaced while read: the next look sees it whole
    return total


# requests reads a body in 64 KiB pieces and waits for a whole one: at a hold, each connection's last piece stays unread
PIECE = 64 * 1024


def wait_until(what: str, done, proc=None, limit_s: float = 120, state=lambda: "") -> None:
    """Poll a state the test does not control the timing of (a client's saved progress); the limit only turns a hang
    into a failure, it decides nothing."""
    deadline = time.monotonic() + limit_s
    while not done():
        assert proc is None or proc.poll() is None, f"the client ended before {what}"
        assert time.monotonic() < deadline, f"never saw {what} ({state()})"
        time.sleep(0.02)


def caught_up(route, cache: Path) -> bool:
    """Every body the client asked for waits at the server's hold, and the client has recorded all it received but
    the last partial piece of each (with fixed --segments nothing is split, so nothing sent is thrown away)."""
    return route.active > 0 and route.held == route.active and saved_progress(cache) >= route.bytes_sent - 1 - route.active * PIECE
