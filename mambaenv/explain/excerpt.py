"""A log, read as a stream, cut down to the lines that can name its failure, in time and memory linear in its size.

A log of up to WHOLE bytes is kept whole. Of a longer one (a verbose build prints hundreds of megabytes of
compile lines) only these are kept: its head (the command, the platform), its tail (pip's summary and the
failing step's last lines), and a window of lines around each line that marks an error or a build step: the
first WINDOWS such windows and the last WINDOWS. Every kept line is cut to LINE_CAP characters (its start and
its end). Marked lines are found with one bytes.find per mark and chunk, at C speed; Python only touches the
lines it keeps, so the work grows with the log's size, never with its number of lines or errors.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

CHUNK = 1 << 20  # bytes read at a time
WHOLE = 1 << 20  # a log this small is kept whole
LINE_CAP = 2000  # characters kept of one line; a longer one keeps its start and its end
LINE_CUT = " [...] "
HEAD_LINES, HEAD_BYTES = 200, 64 << 10
TAIL_LINES, TAIL_BYTES = 1200, 256 << 10
BEFORE_LINES, BEFORE_BYTES = 20, 16 << 10  # a traceback's last frames sit above its error line
AFTER_LINES, AFTER_BYTES = 10, 8 << 10  # an exception's message may run on below it
WINDOWS = 100  # windows kept from the log's start, and as many from its end
GAP = ""  # stands for lines left out; a blank line also ends an exception's message, as it should here
# What marks a line worth a window, spelled as logs spell it. find is case-sensitive and each mark costs one scan
# of the log (about 0.1 s per 200 MB), so the marks are few: error/Error/#error/XxxError and ERROR: (a compiler's
# "Killed", "cannot find -l" and ld's "not found" come with an "error:" line of their own), nvcc's "fatal   :",
# and the two headers of a build step (pip -v prints a step's header far above its end).
MARKS = (b"rror", b"RROR", b"atal", b"Building wheel", b"Running setup.py")


def cap_line(line: str) -> str:
    if len(line) <= LINE_CAP:
        return line
    half = (LINE_CAP - len(LINE_CUT)) // 2
    return line[:half] + LINE_CUT + line[-half:]


def marks_in(buf: bytes, lo: int, hi: int, limit: int, backward: bool = False) -> list[int]:
    """Where marked lines are in buf[lo:hi]: the first ``limit`` (or the last, backward), one hit per line and mark."""
    hits: list[int] = []
    for mark in MARKS:
        first = max(0, lo - len(mark) + 1)  # a mark may straddle the chunk's start
        found, pos, end = 0, first, hi
        while found < limit:
            i = buf.rfind(mark, first, end) if backward else buf.find(mark, pos, hi)
            if i < 0:
                break
            hits.append(i)
            found += 1
            if backward:
                end = buf.rfind(b"\n", first, i) + 1
            else:
                nl = buf.find(b"\n", i, hi)
                pos = hi if nl < 0 else nl + 1
    hits.sort()
    return hits[-limit:] if backward else hits[:limit]


def window(buf: bytes, hit: int) -> tuple[int, int, int]:
    """(start, end, lines owed past buf's end) of the lines around ``hit``: BEFORE_LINES above, AFTER_LINES below."""
    floor, i = max(0, hit - BEFORE_BYTES), hit
    for _ in range(BEFORE_LINES + 1):
        i = buf.rfind(b"\n", floor, i)
        if i < 0:
            break
    start = i + 1 if i >= 0 else floor
    ceil, j = min(len(buf), hit + AFTER_BYTES), hit
    for n in range(AFTER_LINES + 1):
        j = buf.find(b"\n", j, ceil)
        if j < 0:
            return start, ceil, (AFTER_LINES + 1 - n if ceil == len(buf) else 0)
        j += 1
    return start, j, 0


def first_lines(buf: bytes, count: int, limit: int) -> int:
    """The end of buf's first ``count`` lines, at most ``limit`` bytes in."""
    pos = -1
    for _ in range(count):
        pos = buf.find(b"\n", pos + 1, limit)
        if pos < 0:
            return min(len(buf), limit)
    return pos + 1


def last_lines(buf: bytes, count: int) -> int:
    """The start of buf's last ``count`` lines (0 when buf holds fewer)."""
    pos = len(buf) - 1 if buf.endswith(b"\n") else len(buf)
    for _ in range(count):
        pos = buf.rfind(b"\n", 0, pos)
        if pos < 0:
            return 0
    return pos + 1


@dataclass
class Marked:
    """A chunk with marked lines in buf[lo:hi]; buf also holds the lines above it and, once read, below it."""

    offset: int
    buf: bytes
    lo: int
    hi: int


@dataclass
class Excerpt:
    """What one pass over a stream keeps: pieces of it by their offset, and what the last windows need at the end."""

    front: bytearray = field(default_factory=bytearray)  # the first WHOLE bytes, until the log proves longer
    size: int = 0
    big: bool = False
    pieces: list[tuple[int, bytes]] = field(default_factory=list)  # (offset, bytes): the head and the first windows
    windows: int = 0
    owed: int = 0  # lines a window at the end of the last chunk still wants from the next
    context: bytes = b""  # the last BEFORE_BYTES seen: the lines above a window at a chunk's start
    marked: deque = field(default_factory=lambda: deque(maxlen=2))  # the latest chunks with marks, for the last windows
    tail: bytes = b""

    def feed(self, chunk: bytes) -> None:
        if self.big:
            self._region(chunk)
            return
        self.front += chunk
        if len(self.front) > WHOLE:
            self.big, front = True, bytes(self.front)
            self.front = bytearray()
            self.pieces.append((0, front[:first_lines(front, HEAD_LINES, HEAD_BYTES)]))
            self._region(front)

    def _region(self, chunk: bytes) -> None:
        offset, buf, lo = self.size - len(self.context), self.context + chunk, len(self.context)
        if self.owed:
            self.pieces.append((self.size, chunk[:first_lines(chunk, self.owed, AFTER_BYTES)]))
            self.owed = 0
        last = self.marked[-1] if self.marked else None
        if last is not None and len(last.buf) == last.hi:  # the last marked chunk gets the lines below it
            last.buf += chunk[:AFTER_BYTES]
        self.size += len(chunk)
        if self.windows < WINDOWS:
            hits = marks_in(buf, lo, len(buf), WINDOWS - self.windows)
            for hit in hits:
                start, end, owed = window(buf, hit)
                self.pieces.append((offset + start, buf[start:end]))
                self.owed = max(self.owed, owed)
            self.windows += len(hits)
            has_marks = bool(hits)
        else:
            has_marks = any(buf.find(mark, max(0, lo - len(mark) + 1)) >= 0 for mark in MARKS)
        if has_marks:
            self.marked.append(Marked(offset, buf, lo, len(buf)))
        self.context = buf[-BEFORE_BYTES:]
        self.tail = chunk[-TAIL_BYTES:] if len(chunk) >= TAIL_BYTES else (self.tail + chunk)[-TAIL_BYTES:]

    def last_windows(self) -> list[tuple[int, bytes]]:
        """The windows around the last WINDOWS marked lines, from the latest marked chunks."""
        late: list[tuple[int, bytes]] = []
        for m in reversed(self.marked):
            for hit in reversed(marks_in(m.buf, m.lo, m.hi, WINDOWS - len(late), backward=True)):
                start, end, _ = window(m.buf, hit)
                late.append((m.offset + start, m.buf[start:end]))
            if len(late) >= WINDOWS:
                break
        return late

    def kept(self) -> list[tuple[int, bytes]]:
        """The pieces kept, in the stream's order; overlapping ones are joined by ``joined``."""
        if not self.big:
            return [(0, bytes(self.front))]
        tail_from = last_lines(self.tail, TAIL_LINES)
        tail = (self.size - len(self.tail) + tail_from, self.tail[tail_from:])
        return sorted(self.pieces + self.last_windows() + [tail], key=lambda p: p[0])


def joined(pieces: list[tuple[int, bytes]]) -> list[bytes]:
    """Overlapping pieces as one; between pieces that do not touch, a GAP."""
    out: list[bytes] = []
    at, current = -1, b""
    for offset, data in pieces:
        if at >= 0 and offset <= at + len(current):
            current += data[at + len(current) - offset:]
            continue
        if at >= 0:
            out.append(current)
        at, current = offset, data
    if at >= 0:
        out.append(current)
    return out


def lines_of(blocks: list[bytes]) -> list[str]:
    """Each block's lines decoded and capped, a GAP between blocks."""
    lines: list[str] = []
    for n, block in enumerate(blocks):
        if n:
            lines.append(GAP)
        text = block.decode("utf-8", "replace").replace("\r\n", "\n")
        lines += [cap_line(ln) for ln in text.removesuffix("\n").split("\n")]
    return lines


def read_lines(stream) -> list[str]:
    """The lines of a binary (or text) stream that can matter, read CHUNK by CHUNK."""
    excerpt = Excerpt()
    while True:
        chunk = stream.read(CHUNK)
        if not chunk:
            break
        excerpt.feed(chunk.encode("utf-8", "replace") if isinstance(chunk, str) else chunk)
    return lines_of(joined(excerpt.kept()))
