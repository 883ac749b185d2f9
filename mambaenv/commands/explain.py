"""explain: an error text (argument, file or stdin) to its cause and fix, made concrete with the env's facts when given."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mambaenv.errors import BadInput, ExitCode
from mambaenv.explain import diagnose


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


def read_error_text(text: str | None, file: str | None, stdin) -> str:
    """The text to explain: the argument, --file F, --file - (stdin), or stdin when it is not a terminal."""
    if file == "-" or (text is None and file is None and stdin is not None and not stdin.isatty()):
        text = stdin.read()
    elif file:
        try:
            text = Path(file).read_text(errors="replace")
        except OSError as e:
            raise BadInput(f"cannot read {file}: {e.strerror}", "give the path of a log file, or - for standard input") from None
    if not text or not text.strip():
        raise BadInput("nothing to explain", "give the error text, --file LOG, or pipe it in: cmd 2>&1 | mambaenv explain")
    return text


def explain_cmd(req: ExplainRequest) -> ExplainResult:
    body = read_error_text(req.text, req.file, req.stdin)
    if not (req.python or req.env):
        return ExplainResult(diagnose(body))
    # start-up: probing the env (and NVML) loads only when --python/--env asks for its facts
    from mambaenv.detect.host import detect_nvidia, detect_toolkit
    from mambaenv.detect.pyenv import choose_python, probe_python
    from mambaenv.explain.context import context_from_probe
    from mambaenv.fix_target import aim_fix, named_target

    exe = choose_python(req.python, req.env)
    found = diagnose(body, context_from_probe(probe_python(exe), detect_nvidia(), detect_toolkit()))
    named = named_target(req.python, req.env, exe)  # the env the error came from: its fixes must act there
    for d in [found.diagnosis, *found.others]:
        if d is not None:
            d.fix = aim_fix(d.fix, named)
    return ExplainResult(found)
