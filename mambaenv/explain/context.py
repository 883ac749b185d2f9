"""What is known about the env an error came from: read from the log's own text, overridden by the
target env's probed facts when ``explain --python`` gives one."""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

# torch's version string tells nightly (2.9.0.dev20250801+cu128) and NGC builds (2.5.0a0+872d972e41.nv24.08) apart.
NIGHTLY = re.compile(r"\.dev\d{8}")
NGC = re.compile(r"a0\+[0-9a-f]{6,40}(?:\.nv\d\d\.\d\d)?|\.nv\d\d\.\d\d")
TORCH_IN_LOG = re.compile(r"torch\.__version__\s{0,20}=\s{0,20}(\S{1,300})|torch[=-]=?(\d{1,9}\.\d{1,9}\.\d{1,9}\S{0,300})")
WINDOWS = re.compile(r"(?:^|[\s'\"(])[A-Za-z]:\\\\?[\w$ .-]{1,300}\\|\bwin[-_]amd64\b|\bcl\.exe\b|\.pyd\b|\bPS [A-Z]:\\|Microsoft Visual|DLL load failed")
DARWIN = re.compile(r"/private/var/folders/|/Users/\w{1,200}/(?:Library|miniforge|opt)|\bmacosx_\d{1,9}|\bdarwin\b|/opt/homebrew/|\.dylib\b|"
                    r"Python\.framework|apple-darwin|Apple clang|MacOSX\d{0,4}\.sdk", re.I)
ROCM = re.compile(r"\+rocm\d|/opt/rocm|\bhipcc\b|\bamdgcn\b|--offload-arch|\bHIP_ARCHITECTURES\b|\bhipError|\bgfx\d{3,4}\b")


@dataclass
class Context:
    platform: str | None = None  # "linux" | "windows" | "darwin"
    rocm: bool = False
    torch: str | None = None
    torch_cuda: str | None = None
    cxx11_abi: bool | None = None
    python: str | None = None
    machine: str | None = None
    gpu_capability: str | None = None
    gpu_name: str | None = None
    nvcc: str | None = None  # toolkit version when known
    cuda_home: str | None = None  # that toolkit's folder
    installed: dict = field(default_factory=dict)  # {"mamba_ssm": "2.2.4", "causal_conv1d": "1.5.0", "triton": "3.1.0"}
    from_env: bool = False  # facts came from a probed env, not only from the log
    # The planner's answer for that env, filled in by the command that probed it (commands/explain.py advise): explain
    # stays below the planner, so it reads these facts instead of resolving.
    wheel_files: dict = field(default_factory=dict)  # {package: the prebuilt wheel file that fits}
    wheel_missing: dict = field(default_factory=dict)  # {package: why no prebuilt wheel fits}
    paired_causal: str | None = None  # the causal_conv1d release that came out with the installed mamba_ssm

    @property
    def nightly(self) -> bool:
        return bool(self.torch and NIGHTLY.search(self.torch))

    @property
    def ngc(self) -> bool:
        return bool(self.torch and NGC.search(self.torch))

    @property
    def cuda_major(self) -> str | None:
        return self.torch_cuda.split(".")[0] if self.torch_cuda else None

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v not in (None, {}, False)}


def context_from_log(log) -> Context:
    """``log``: an explain.logparse.ParsedLog."""
    text = log.wide_text
    ctx = Context()
    if WINDOWS.search(text):
        ctx.platform = "windows"
    elif DARWIN.search(text):
        ctx.platform = "darwin"
    ctx.rocm = bool(ROCM.search(text))
    m = TORCH_IN_LOG.search(text)
    if m:
        ctx.torch = m.group(1) or m.group(2)
    return ctx


def merge(log_ctx: Context, env: Context | None) -> Context:
    """The probed env wins where it knows something; the log fills the rest."""
    if env is None:
        return log_ctx
    merged = Context(**{**asdict(log_ctx), **{k: v for k, v in asdict(env).items() if v not in (None, {}, False)}})
    merged.rocm = env.rocm or (log_ctx.rocm and not env.from_env)
    return merged


def context_from_probe(pyenv, nvidia=None, toolkit=None) -> Context:
    """Facts of a target env (PyEnvFacts from detect.pyenv) and, when given, the host's GPU and nvcc."""
    t = pyenv.torch or {}
    target = pyenv.target()  # honours the GPU seam (MAMBAENV_ASSUME_TORCH_CUDA) like every other command
    system = (pyenv.raw.get("system") or "").lower()
    installed = {name: pyenv.package_version(name) for name in ("mamba_ssm", "causal_conv1d", "triton")}
    gpu = nvidia.gpus[0] if nvidia and nvidia.gpus else None
    return Context(
        platform=system or None,
        rocm=bool(t.get("hip")),
        torch=t.get("version"),
        torch_cuda=target.torch_cuda,
        cxx11_abi=pyenv.cxx11_abi,
        python=pyenv.python_version,
        machine=pyenv.raw.get("machine"),
        gpu_capability=gpu.compute_capability if gpu else None,
        gpu_name=gpu.name if gpu else None,
        nvcc=toolkit.version if toolkit else None,
        cuda_home=toolkit.cuda_home if toolkit and toolkit.nvcc else None,
        installed={k: v for k, v in installed.items() if v},
        from_env=True,
    )
