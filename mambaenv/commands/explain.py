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
    found = diagnose_lines(lines, advise(context_from_probe(probe_python(exe), detect_nvidia(), detect_toolkit())))
    named = named_target(req.python, req.env, exe)  # the env the error came from: its fixes must act there
    for d in [found.diagnosis, *found.others]:
        if d is not None:
            d.fix = aim_fix(d.fix, named)
    return ExplainResult(found)


def advise(ctx):
    """The planner's answer for the env a context describes (the shipped catalog: explain asks nothing of the network):
    which prebuilt wheel fits, or why none does, and the causal_conv1d released with the installed mamba_ssm."""
    import dataclasses  # start-up: only explain --python advises

    from mambaenv.catalog import load_catalog
    from mambaenv.facts import Target, TargetEnv
    from mambaenv.plan import FILE_ORIGINS, PlanRequest, plan

    paired = paired_release(load_catalog(offline=True), ctx.installed.get("mamba_ssm"))
    if not (ctx.torch and ctx.python and ctx.torch_cuda):
        return dataclasses.replace(ctx, paired_causal=paired)
    env = TargetEnv(python=ctx.python, machine=ctx.machine or "x86_64", torch=ctx.torch, torch_cuda=ctx.torch_cuda, cxx11_abi=ctx.cxx11_abi)
    answer = plan(PlanRequest(Target(env), offline=True, origins=FILE_ORIGINS))
    return dataclasses.replace(ctx, paired_causal=paired,
                               wheel_files={p.package: p.chosen.filename for p in answer.packages if p.chosen},
                               wheel_missing={p.package: p.reason for p in answer.packages if not p.chosen})


def paired_release(catalog, mamba_version: str | None) -> str | None:
    """The causal_conv1d release that was current when this mamba_ssm was released (they are released together)."""
    mamba = catalog.find("mamba_ssm", mamba_version.split("+")[0]) if mamba_version else None
    if mamba is None:
        return None
    fitting = [r for r in catalog.for_package("causal_conv1d") if r.date <= mamba.date]
    return max(fitting, key=lambda r: (r.date, r.key)).package_version if fitting else None
