"""The one rule table for "does this wheel fit this environment", used by resolve, wheel checks, doctor and install.

Rows are checked in order (machine, Python, CUDA major, torch or NGC month, C++ ABI, glibc, GPU arch);
each row is a predicate plus the words for a single mismatch and for "no wheel is left".

Unknown, decided once: a fact missing on either side (a torch whose ABI was not read, a wheel whose
archs no source states, a host whose glibc was not detected) makes a row answer ``None``, "not
checked". It never excludes a wheel, but it is said aloud (``Verdict.unchecked``), and when wheels
differ only in what is known, resolve prefers the one whose facts are all known.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

from packaging.version import InvalidVersion, Version

from mambaenv.facts import TargetEnv
from mambaenv.wheelname import LocalTag


@dataclass(frozen=True)
class WheelFacts:
    """What a wheel (or an installed build) was built for, from its name plus what the catalog or its ELF files say."""

    filename: str  # the file, or for an installed build "package version"
    python: str | None  # "3.10"; None for a py3 (any CPython) wheel
    machine: str | None
    local: LocalTag | None  # None: a wheel without +cu..torch.. (a local build or pure Python)
    archs: tuple[int, ...] | None = None  # SASS targets, 80 = sm_80
    glibc_needed: str | None = None
    # archs unknown but bounded: (targets it surely has, targets it may have)
    archs_bounds: tuple[tuple[int, ...], tuple[int, ...]] | None = None
    ptx: tuple[int, ...] = ()  # PTX the driver can JIT for any GPU of this or a newer capability

    @classmethod
    def of_asset(cls, w) -> "WheelFacts":
        return cls(w.filename, w.python, w.machine, w.local, w.archs, getattr(w, "glibc_needed", None), getattr(w, "archs_bounds", None))

    @classmethod
    def of_installed(cls, label: str, local, sass: Iterable, ptx: Iterable) -> "WheelFacts":
        """An installed build: its dist version's local tag, and the GPU code read from its extension (none read: unknown)."""
        sass, ptx = tuple(sm(a) for a in sass), tuple(sm(a) for a in ptx)
        return cls(label, None, None, local, sass if (sass or ptx) else None, None, None, ptx)


# --- GPU architectures ---------------------------------------------------------------------------

def sm(cap: str | int) -> int:
    """``"12.0"`` / ``"sm_120"`` / ``120`` -> 120."""
    if isinstance(cap, int):
        return cap
    text = cap.strip().lower().removeprefix("sm_").removeprefix("sm")
    if "." in text:
        major, minor = text.split(".", 1)
        return int(major) * 10 + int(minor[:1] or 0)
    return int(text)


def sm_name(n: int) -> str:
    return f"sm_{n}"


def sass_runs_on(code: int, gpu: int) -> bool:
    """SASS (a cubin) runs on the same major with an equal or higher minor; never across majors."""
    return code // 10 == gpu // 10 and code % 10 <= gpu % 10


def runs_on(sass: Iterable[int], ptx: Iterable[int], gpu: int) -> bool:
    """The one rule for "does this GPU code run on this GPU", wherever the code was read from.

    SASS runs on its own major at an equal or higher minor. PTX is compiled by the driver at load time for the GPU
    it runs on, so PTX for an equal or older architecture runs on any newer GPU, across majors too (NVIDIA, CUDA C++
    Programming Guide, "Binary Compatibility" and "Application Compatibility"). Upstream wheels and mambaenv's own
    builds carry SASS only; PyTorch-style "+PTX" builds carry both.
    """
    return any(sass_runs_on(a, gpu) for a in sass) or any(p <= gpu for p in ptx)


def archs_run_on(archs: Iterable[int], gpu: int) -> bool:
    return runs_on(archs, (), gpu)


def archs_text(archs: Iterable[int]) -> str:
    return ", ".join(sm_name(a) for a in sorted(archs))


# --- rows ----------------------------------------------------------------------------------------

def _vkey(text: str):
    try:
        return Version(text)
    except InvalidVersion:
        return Version("0")


def _listed(values) -> str:
    return ", ".join(str(v) for v in values)


def _abi(flag: bool | None) -> str:
    return {True: "TRUE", False: "FALSE", None: "unknown"}[flag]


@dataclass(frozen=True)
class Rule:
    name: str
    check: Callable[[WheelFacts, TargetEnv], "bool | None"]
    mismatch: Callable[[WheelFacts, TargetEnv], str]
    none_left: Callable[[TargetEnv, list], str]


def _machine(w, env):
    return None if not w.machine else w.machine == env.machine


def _python(w, env):
    return None if w.python is None else w.python == env.python


def _cuda(w, env):
    if w.local is None:
        return None
    if env.torch is None or env.torch_cuda is None:
        return False
    return w.local.cuda_major == env.cuda_major


def _torch(w, env):
    if w.local is None or env.torch is None:  # no torch at all is the CUDA row's failure
        return None
    if w.local.is_ngc:
        return env.ngc_version == w.local.torch
    return w.local.torch == env.torch_major_minor


def _cxx11(w, env):
    if w.local is None or w.local.cxx11_abi is None or env.cxx11_abi is None:  # a name without the ABI (Astral's) says nothing
        return None
    return w.local.cxx11_abi == env.cxx11_abi


def _glibc(w, env):
    if not w.glibc_needed or not env.glibc:
        return None
    return _vkey(w.glibc_needed) <= _vkey(env.glibc)


def _gpu(w, env):
    if not env.gpu_caps:
        return None
    if w.archs is not None:
        return all(runs_on(w.archs, w.ptx, sm(c)) for c in env.gpu_caps)
    if w.archs_bounds is not None:
        surely, maybe = w.archs_bounds
        if not all(archs_run_on(maybe, sm(c)) for c in env.gpu_caps):
            return False  # no toolkit of that major would have compiled code for it
        if all(archs_run_on(surely, sm(c)) for c in env.gpu_caps):
            return True
    return None


def _cuda_mismatch(w, env):
    if env.torch is None:
        return "wheel needs torch, this env has no torch"
    if env.torch_cuda is None:
        return f"wheel is for CUDA {w.local.cuda_major}, this env's torch is CPU-only"
    return f"wheel is for CUDA {w.local.cuda_major}, this env's torch is built for CUDA {env.torch_cuda}"


def _torch_mismatch(w, env):
    if w.local.is_ngc:
        return f"wheel was built in the NGC {w.local.torch} container, this env is not that container"
    return f"wheel is for torch {w.local.torch}, this env has torch {env.torch}"


def _gpu_missing(w, env) -> list[int]:
    archs = w.archs if w.archs is not None else w.archs_bounds[1]
    return [sm(c) for c in env.gpu_caps if not runs_on(archs, w.ptx, sm(c))]


def _gpu_mismatch(w, env) -> str:
    archs = w.archs if w.archs is not None else w.archs_bounds[1]
    code = archs_text(archs) + (f" and PTX for {archs_text(w.ptx)}" if w.ptx else "")
    return (f"wheel carries GPU code for {code} {'only' if w.archs is not None else 'at most'}, "
            f"which does not run on {archs_text(_gpu_missing(w, env))}; build for your GPU")


def _torch_none_left(env, ws):
    built = sorted({w.local.torch for w in ws if not w.local.is_ngc}, key=_vkey)
    if env.ngc_version and not built:
        return f"no wheel was built in the NGC {env.ngc_version} container"
    if not built:
        return f"no wheel for torch {env.torch_major_minor}"
    where = f"Python {env.python}, CUDA {env.cuda_major}"
    if _vkey(env.torch_major_minor) > _vkey(built[-1]):
        return f"no release builds torch {env.torch_major_minor}; the newest torch with wheels for {where} is {built[-1]}"
    return f"no wheel for torch {env.torch_major_minor} with {where}; torch versions with wheels: {', '.join(built)}"


def _gpu_none_left(env, ws):
    gpus = archs_text(sm(c) for c in env.gpu_caps)
    known = sorted({a for w in ws if w.archs for a in w.archs})
    tk = sorted({w.cuda_toolkit for w in ws if getattr(w, "cuda_toolkit", None)}, key=_vkey)
    built = f"; the wheels for this env carry code for {archs_text(known)}" if known else ""
    built += f" (CUDA toolkit {', '.join(tk)})" if tk else ""
    return (f"no prebuilt wheel carries GPU code that runs on {gpus}{built}; upstream compiles SASS only, "
            "so build for your GPU")


RULES: tuple[Rule, ...] = (
    Rule("machine", _machine,
         lambda w, env: f"wheel is for {w.machine}, this machine is {env.machine}",
         lambda env, ws: f"no wheel for {env.machine}; wheels exist for {_listed(sorted({w.machine for w in ws}))}"),
    Rule("python", _python,
         lambda w, env: f"wheel is for Python {w.python}, this env has Python {env.python}",
         lambda env, ws: f"no wheel for Python {env.python}; wheels exist for Python "
                         f"{_listed(sorted({w.python for w in ws}, key=_vkey))}"),
    Rule("cuda", _cuda, _cuda_mismatch,
         lambda env, ws: f"no wheel for CUDA {env.cuda_major} (torch is built for CUDA {env.torch_cuda}); "
                         f"wheels exist for CUDA {_listed(sorted({w.local.cuda_major for w in ws}))}"),
    Rule("torch", _torch, _torch_mismatch, _torch_none_left),
    Rule("cxx11abi", _cxx11,
         lambda w, env: f"wheel is cxx11abi{_abi(w.local.cxx11_abi)}, this env's torch is cxx11abi{_abi(env.cxx11_abi)}",
         lambda env, ws: f"no wheel with cxx11abi{_abi(env.cxx11_abi)} for torch {env.torch_major_minor}; "
                         f"only cxx11abi{_abi(not env.cxx11_abi)} was built"),
    Rule("glibc", _glibc,
         lambda w, env: f"wheel's libraries need GLIBC {w.glibc_needed}, this system has {env.glibc}",
         lambda env, ws: f"every wheel for this env needs a newer glibc than {env.glibc}; use mambaenv docker or build"),
    Rule("gpu-arch", _gpu, _gpu_mismatch, _gpu_none_left),
)
RULE_NAMES = tuple(r.name for r in RULES)
UNCHECKED_WORDS = {
    "cxx11abi": "torch's C++ ABI is unknown", "glibc": "glibc needs not checked",
    "gpu-arch": "the GPU architectures were not checked", "machine": "the wheel names no machine",
    "python": "the wheel names no Python", "cuda": "the wheel names no CUDA", "torch": "the wheel names no torch",
}


@dataclass(frozen=True)
class Verdict:
    failed: tuple[str, ...]  # rule names that do not hold
    unchecked: tuple[str, ...]  # rule names that could not be checked
    messages: tuple[str, ...]  # one line per failed rule, in table order

    @property
    def fits(self) -> bool:
        return not self.failed

    @property
    def first_failed(self) -> str | None:
        return self.failed[0] if self.failed else None

    def unchecked_words(self) -> list[str]:
        return [UNCHECKED_WORDS[n] for n in self.unchecked]


def evaluate(w: WheelFacts, env: TargetEnv, rules: Iterable[Rule] = RULES, stop_at_first: bool = False) -> Verdict:
    failed, unchecked, messages = [], [], []
    for rule in rules:
        ok = rule.check(w, env)
        if ok is None:
            unchecked.append(rule.name)
        elif not ok:
            failed.append(rule.name)
            messages.append(rule.mismatch(w, env))
            if stop_at_first:
                break
    return Verdict(tuple(failed), tuple(unchecked), tuple(messages))


def rules_upto(name: str) -> tuple[Rule, ...]:
    """The rows up to and including ``name`` (e.g. what decides the torch options)."""
    return RULES[: RULE_NAMES.index(name) + 1]


def rules_except(*names: str) -> tuple[Rule, ...]:
    return tuple(r for r in RULES if r.name not in names)


@dataclass(frozen=True)
class NoneLeft:
    """Why no wheel is left: the rule (an id to decide on) and the user's words (never parsed)."""

    rule: str | None  # None: no row excluded them all, yet none passed every row
    text: str


def why_none(items: list, env: TargetEnv, facts: Callable = WheelFacts.of_asset) -> NoneLeft:
    """The first row that leaves no wheel, in the user's words with what does exist."""
    left = list(items)
    for rule in RULES:
        kept = [x for x in left if rule.check(facts(x), env) is not False]
        if not kept:
            return NoneLeft(rule.name, rule.none_left(env, left))
        left = kept
    return NoneLeft(None, "no wheel matches this environment")
