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
    found = diagnose(body, advise(context_from_probe(probe_python(exe), detect_nvidia(), detect_toolkit())))
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
