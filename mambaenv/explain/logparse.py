"""A pip/uv log or a traceback -> its steps, the step that failed, and that step's own error lines.

A full pip log names many packages and quotes many warnings; only the failing step's own error
decides the cause. pip marks steps with lines like these (quoted from real logs):

    Collecting mamba-ssm
      Preparing metadata (setup.py) ... error
      Getting requirements to build wheel ... error
      Building wheel for mamba-ssm (setup.py) ... error
      Running setup.py install for mamba-ssm ... error
    Installing collected packages: ...

and closes a failure with its own chrome (``× ... did not run successfully``, ``ERROR: Failed building
wheel for X``), which says where the failure is but never why. uv prints ``× Failed to build `X```.
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass, field

from mambaenv.explain.excerpt import read_lines

# Every pattern here and in the rules is bounded ({0,N}, never * or +): one try at a position reads a bounded
# number of characters, so a search is linear in the text (an unbounded [^\n]* after a repeated word is quadratic).
ANSI = re.compile(r"\x1b\[[0-9;?]{0,20}[A-Za-z]")
# Prefixes that posters, pytest and Docker put before a log line; they carry no meaning.
LINE_PREFIX = re.compile(r"^(?:#\d{1,6} [\d.]{1,12} |E {1,3}(?=\S)|\*{1,2}\s{0,8}|> ?|\s{0,8}\|\s{0,2}(?=\S)|│ )")
PREFIX_LAYERS = 6  # "* **E   error" carries several layers of prefix; a line of thousands is cut short
PACKAGE = r"[^\s]{1,200}"

STEP_HEADERS: tuple[tuple[str, re.Pattern], ...] = (
    ("collect", re.compile(rf"^Collecting ({PACKAGE})")),
    ("metadata", re.compile(r"^(?:Preparing metadata|Getting requirements to build (?:wheel|editable)|Installing build dependencies)"
                            r"(?: \([^)]{0,80}\))?")),
    ("build", re.compile(rf"^(?:× )?Building wheel for ({PACKAGE}) \((?:setup\.py|pyproject\.toml)\)")),
    ("build", re.compile(rf"^Running setup\.py (?:install|develop) for ({PACKAGE})")),
    ("build", re.compile(rf"^Building ({PACKAGE}) @ ")),  # uv
    # pip -v streams a build's output under this line, and names the step (Building wheel for X ... error) after it
    ("build", re.compile(rf"^Running command (?:Building wheel for ({PACKAGE})|python setup\.py bdist_wheel)")),
    ("install", re.compile(r"^Installing collected packages")),
)
# pip's and uv's own framing of a failure: they say where, never why.
CHROME = re.compile(
    r"^(?:error: subprocess-exited-with-error|× .{0,300}(?:did not run successfully|Encountered error)|│ exit code|╰─> |"
    r"\[end of output\]|\[\d{1,9} lines of output\]|note: This (?:error originates|is an issue)|hint: |"
    r"ERROR: Failed (?:building wheel|to build)|Failed to build |ERROR: Could not build wheels|ERROR: ERROR: Failed|"
    r"Running setup\.py clean|error: metadata-generation-failed|Building wheels for collected packages|"
    r"ERROR: Failed to build installable wheels|× Failed to (?:build|download)|├─▶ |╰─▶ |help: )")
FAILED_STEP = re.compile(r"(?:\.\.\. error\s{0,80}$|did not run successfully|× Failed to build)")
FAILED_PACKAGE = re.compile(r"(?:ERROR: Failed building wheel for|Failed to build|× Failed to build) [`'\"]?([A-Za-z0-9_.\-]{1,200})")
EXCEPTION = re.compile(r"^(?:[A-Za-z_][\w.]{0,200}\.)?[A-Z]\w{0,100}?(?:Error|Exception|Exit|OutOfResources|Interrupt)(?::|$)")
ERROR_LINE = re.compile(r"(?:\berror\b\s{0,20}:|\berror\s{2,20}:|fatal error|#error|^FAILED:|^ninja: error|\bERROR\b:|"
                        r"cannot open shared object file|not found \(required by|\bKilled\b|cannot find -l)", re.I)
ERROR_WORDS = ("error", "fatal", "failed", "killed", "cannot", "not found")  # cheap test before ERROR_LINE
PIP_PROGRESS = re.compile(r"^(?:Downloading|Using cached|Requirement already satisfied|Obtaining|Looking in indexes|Processing) ")
# Marks of a log that comes out of building a package (pip's build env, setup.py), not out of running one.
BUILDING = re.compile(r"pip-build-env-|pip-install-|setup\.py|bdist_wheel|egg_info|subprocess-exited-with-error|"
                      r"to build wheel|\[end of output\]|build_meta|builds-v\d")
SEPARATORS = re.compile(r"[-_.]{1,20}")
# What the rules read of a failing step, and of a log's two ends, is bounded too: lines and bytes.
STEP_LINES, STEP_CHARS = 1000, 64 << 10  # a failing step's error sits at its end
EDGE_LINES, EDGE_CHARS = 200, 32 << 10  # the command line, platform hints and pip's summary sit at a log's two ends
DECISIVE_BLOCKS = 40  # a step's first error blocks (the first compile error) and its last (the final exception)


def _within(lines: list[str], chars: int) -> list[str]:
    """The leading lines that hold at most ``chars`` characters."""
    out, total = [], 0
    for line in lines:
        total += len(line) + 1
        if total > chars:
            break
        out.append(line)
    return out


@dataclass
class Step:
    kind: str  # "output" (no header yet) | "collect" | "metadata" | "build" | "install"
    package: str | None
    header: str
    lines: list[str] = field(default_factory=list)
    failed: bool = False

    @property
    def text(self) -> str:
        return "\n".join([self.header] + self.lines)


@dataclass
class ParsedLog:
    steps: list[Step]
    failing: Step
    decisive: list[str]  # the failing step's own error lines: final exception messages, compiler errors
    lines: list[str]
    running: bool  # the log ends inside a build step that reported nothing: it is still compiling
    in_build: bool = False  # the error came out of building a package, not out of running it

    @property
    def step_text(self) -> str:
        """The failing step's output, its end when it is huge (a verbose build prints thousands of compile lines)."""
        return "\n".join([self.failing.header] + _within(self.failing.lines[-STEP_LINES:][::-1], STEP_CHARS)[::-1])

    @property
    def edges_text(self) -> str:
        """The log's head and tail (the command line, platform hints, pip's summary), bounded for speed."""
        if len(self.lines) <= 2 * EDGE_LINES and sum(map(len, self.lines)) <= 2 * EDGE_CHARS:
            return "\n".join(self.lines)
        head = _within(self.lines[:EDGE_LINES], EDGE_CHARS)
        return "\n".join(head + _within(self.lines[-EDGE_LINES:][::-1], EDGE_CHARS)[::-1])

    @property
    def wide_text(self) -> str:
        """The whole-log view: the log's two ends and the failing step."""
        return self.edges_text + "\n" + self.step_text

    @property
    def decisive_text(self) -> str:
        return "\n".join(self.decisive)


def clean_line(raw: str) -> str:
    line = ANSI.sub("", raw).split("\r")[-1].rstrip()  # progress bars rewrite one line with \r
    stripped = line.strip()
    for _ in range(PREFIX_LAYERS):
        shorter = LINE_PREFIX.sub("", stripped).strip()
        if shorter == stripped:
            break
        stripped = shorter
    return stripped.rstrip("*").rstrip()


def _header(line: str) -> tuple[str, str | None] | None:
    for kind, pattern in STEP_HEADERS:
        m = pattern.match(line)
        if m:
            return kind, (m.group(1) if m.groups() else None)
    return None


def split_steps(lines: list[str]) -> list[Step]:
    steps = [Step("output", None, "")]
    current_package = None
    for line in lines:
        head = _header(line)
        if head:
            kind, package = head
            if kind == "collect":
                current_package = package
            step = Step(kind, package or current_package, line)
            step.failed = bool(FAILED_STEP.search(line))
            steps.append(step)
            continue
        m = FAILED_PACKAGE.search(line)
        if m:
            name = _norm(m.group(1))
            for s in reversed(steps):
                if s.kind in ("build", "metadata") and s.package and _norm(s.package) == name:
                    s.failed = True
                    break
        if FAILED_STEP.search(line) and CHROME.match(line) and not steps[-1].failed and steps[-1].kind != "output":
            steps[-1].failed = True
        steps[-1].lines.append(line)
    return [s for s in steps if s.header or any(ln.strip() for ln in s.lines)]


def _norm(name: str) -> str:
    return SEPARATORS.sub("_", name.split("==")[0].split("[")[0]).lower()


def error_lines(lines: list[str]) -> list[str]:
    """Final exception messages (with their continuation lines) and compiler/tool error lines."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if CHROME.match(line) or PIP_PROGRESS.match(line):
            i += 1
            continue
        if EXCEPTION.match(line):
            block = [line]
            j = i + 1
            # A message may run on (CUDA mismatch, pybind's "supported types" list) until a blank or a new frame.
            while j < len(lines) and len(block) < 6 and lines[j].strip() and not CHROME.match(lines[j]) \
                    and not lines[j].startswith(("File ", "Traceback")) and not EXCEPTION.match(lines[j]):
                block.append(lines[j])
                j += 1
            out.append("\n".join(block))
            i = j
            continue
        low = line.lower()
        if any(k in low for k in ERROR_WORDS) and ERROR_LINE.search(line) and not line.startswith("warning"):
            out.append(line)
        i += 1
    return out


def parse_log(text: str) -> ParsedLog:
    """The steps of a log given whole (explain(text)); it is read as a stream all the same, so its size is bounded."""
    return parse_lines(read_lines(io.BytesIO(text.encode("utf-8", "replace"))))


def parse_lines(raw_lines: list[str]) -> ParsedLog:
    lines = [clean_line(raw) for raw in raw_lines]
    steps = split_steps(lines)
    if not steps:
        steps = [Step("output", None, "")]
    errors = {id(s): error_lines(s.lines) for s in steps}
    failing = next((s for s in steps if s.failed), None)
    if failing is None:
        with_errors = [s for s in steps if errors[id(s)] or EXCEPTION.match(s.header)]
        failing = with_errors[-1] if with_errors else steps[-1]
    decisive = errors[id(failing)]
    if len(decisive) > DECISIVE_BLOCKS:
        decisive = decisive[:DECISIVE_BLOCKS // 2] + decisive[-DECISIVE_BLOCKS // 2:]
    if not decisive:  # a bare message with no error marker (a quoted line): its last lines are the error
        decisive = [ln for ln in failing.lines if ln.strip() and not CHROME.match(ln)][-3:]
    last = steps[-1]
    running = last.kind == "build" and not last.failed and not errors[id(last)] \
        and not any(ln.startswith(("Successfully", "Created wheel", "Stored in")) or ln.endswith("... done") for ln in [last.header] + last.lines)
    in_build = failing.kind in ("metadata", "build") or any(BUILDING.search(ln) for ln in lines)
    return ParsedLog(steps, failing, decisive, lines, running, in_build)
