"""explain: an error text (argument, file or stdin) to its cause and fix, made concrete with the env's facts when given."""
from __future__ import annotations

import io
from dataclasses import dataclass

from mambaenv.errors import BadInput, ExitCode
from mambaenv.explain import diagnose_lines
from mambaenv.explain.excerpt import read_lines


@dataclass(frozen=True)
class ExplainRequest:
    text: str | None = None
    file: str | None = None  # a log file; "-": standard input
    python: str | None = None  # the env the error came from
    env: str | None = None
    stdin: object = None  # read when file is "-", or when no text is given and it is not a terminal


@dataclass
class ExplainResult:
    found: object  # explain's answer: diagnosis (or None) and others

    def to_dict(self) -> dict:
        d = self.found.diagnosis
        return {"diagnosis": d.to_dict() if d else None, "others": [o.to_dict() for o in self.found.others]}

    @property
    def exit_code(self) -> int:
        return ExitCode.OK if self.found.diagnosis else ExitCode.NO_WORKING_PATH


def read_error_lines(text: str | None, file: str | None, stdin) -> list[str]:
    """The lines that can matter of the text to explain: the argument, --file F, --file - (stdin), or stdin when it is
    not a terminal. A file or stdin is read in chunks, never whole (a log may be gigabytes)."""
    if file == "-" or (text is None and file is None and stdin is not None and not stdin.isatty()):
        lines = read_lines(getattr(stdin, "buffer", stdin))
    elif file:
        try:
            with open(file, "rb") as stream:
                lines = read_lines(stream)
        except OSError as e:
            raise BadInput(f"cannot read {file}: {e.strerror}", "give the path of a log file, or - for standard input") from None
    else:
        lines = read_lines(io.BytesIO((text or "").encode("utf-8", "replace")))
    if not any(line.strip() for line in lines):
        raise BadInput("nothing to explain", "give the error text, --file LOG, or pipe it in: cmd 2>&1 | mambaenv explain")
    return lines


def explain_cmd(req: ExplainRequest) -> ExplainResult:
    lines = read_error_lines(req.text, req.file, req.stdin)
    if not (req.python or req.env):
        return ExplainResult(diagnose_lines(lines))
    # start-up: probing the env (and NVML) loads only when --python/--env asks for its facts
    from mambaenv.detect.host import detect_nvidia, detect_toolkit
    from mambaenv.detect.pyenv import choose_python, probe_python
    from mambaenv.explain.context import context_from_probe
    from mambaenv.fix_target import aim_fix, named_target

    exe = choose_python(req.python, req.env)
    found = diagnose_lines(lines, context_from_probe(probe_python(exe), detect_nvidia(), detect_toolkit()))
    named = named_target(req.python, req.env, exe)  # the env the error came from: its fixes must act there
    for d in [found.diagnosis, *found.others]:
        if d is not None:
            d.fix = aim_fix(d.fix, named)
    return ExplainResult(found)
