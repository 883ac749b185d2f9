"""Error text -> the decisive error, its likely causes ranked, and the fix, tailored to the env when known.

1. The log is read as a stream and cut to the lines that can matter (mambaenv.explain.excerpt: its two ends
   and a window around each error line, each line capped), split into pip's steps (mambaenv.explain.logparse),
   and the failing step's own error lines are taken as the decisive text.
2. Every rule (mambaenv.explain.rules) whose conditions hold is tried on the decisive text, then on the
   failing step's output, then on the whole log; where it first matches sets its score.
3. The best score is the diagnosis; the rest, one per cause, are ``others``.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from mambaenv.explain.context import Context, context_from_log, merge
from mambaenv.explain.excerpt import read_lines
from mambaenv.explain.logparse import ParsedLog, parse_lines, parse_log
from mambaenv.explain.rules import RULES, Rule
from mambaenv.explain.tailor import tailor

# How much a match says, by where it was found.
TIER_SCORE = {"decisive": 0.9, "step": 0.65, "log": 0.4, "tail": 0.8}


@dataclass
class Diagnosis:
    cause: str
    summary: str
    fix: str
    evidence: str = ""
    confidence: float = 0.0

    @property
    def id(self) -> str:  # the name older callers use
        return self.cause

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Explanation:
    diagnosis: Diagnosis | None
    others: list[Diagnosis] = field(default_factory=list)
    failing_step: str = ""
    context: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"diagnosis": self.diagnosis.to_dict() if self.diagnosis else None,
                "others": [o.to_dict() for o in self.others], "failing_step": self.failing_step, "context": self.context}


def _torch_is_cpu(ctx: Context, log: ParsedLog) -> bool:
    return bool(ctx.torch and ctx.torch.endswith("+cpu"))


# A traceback frame inside mamba_ssm/ or causal_conv1d/ that is not an installed copy: a source checkout.
CHECKOUT_FRAME = re.compile(r'File "(?![^"]{0,500}(?:site|dist)-packages)(?![^"]{0,500}pip-(?:install|build-env))[^"<]{0,500}'
                            r'[/\\\\](?:mamba_ssm|causal_conv1d)[/\\\\]')


# setup.py's guess of a prebuilt wheel's URL (mamba_ssm, causal_conv1d and flash_attn share the code)
WHEEL_GUESS = re.compile(r"get_wheel_url|Guessing wheel URL")

CONDITIONS = {
    "from_checkout": lambda ctx, log: any(CHECKOUT_FRAME.search(ln) for ln in log.lines),
    "windows": lambda ctx, log: ctx.platform == "windows",
    "darwin": lambda ctx, log: ctx.platform == "darwin",
    "rocm": lambda ctx, log: ctx.rocm,
    "not_rocm": lambda ctx, log: not ctx.rocm,
    "not_darwin": lambda ctx, log: ctx.platform != "darwin",
    "has_nvcc": lambda ctx, log: bool(ctx.nvcc),
    "nightly_or_ngc": lambda ctx, log: ctx.nightly or ctx.ngc,
    "cpu_torch": _torch_is_cpu,
    "build": lambda ctx, log: log.in_build,
    "runtime": lambda ctx, log: not log.in_build,
    "running": lambda ctx, log: log.running,
    "wheel_guess": lambda ctx, log: any(WHEEL_GUESS.search(ln) for ln in log.lines),
}


def _holds(names: tuple[str, ...], ctx: Context, log: ParsedLog) -> bool:
    return all(CONDITIONS[n](ctx, log) for n in names)


def _search(rule: Rule, text: str):
    return re.search(rule.pattern, text, re.I)


def _where(rule: Rule, log: ParsedLog) -> tuple[str, re.Match] | None:
    if rule.where == "tail":
        tail = "\n".join([ln for ln in log.lines if ln.strip()][-3:])
        m = _search(rule, tail)
        return ("tail", m) if m else None
    # the "log" tier reads the log's two ends: the failing step was read by the tier before it
    for tier, text in (("decisive", log.decisive_text), ("step", log.step_text), ("log", log.edges_text)):
        m = _search(rule, text)
        if m:
            return tier, m
    return None


def _evidence(m: re.Match, text_lines: list[str]) -> str:
    first = m.group(0).splitlines()[0] if m.group(0) else ""
    line = next((ln for ln in text_lines if first and first in ln), first)
    return line.strip()[:300]


def _fix(rule: Rule, ctx: Context, log: ParsedLog) -> str:
    for cond, text in rule.fixes:
        if CONDITIONS[cond](ctx, log):
            return text
    return rule.fix


def diagnose(text: str, env: Context | None = None) -> Explanation:
    """All plausible causes of the failure in ``text``, best first; ``env`` adds the target env's facts."""
    return diagnose_log(parse_log(text), env)


def diagnose_stream(stream, env: Context | None = None) -> Explanation:
    """``diagnose`` for a log read from a binary stream (a file, standard input) in chunks, never whole."""
    return diagnose_lines(read_lines(stream), env)


def diagnose_lines(lines: list[str], env: Context | None = None) -> Explanation:
    """``diagnose`` for the lines mambaenv.explain.excerpt kept of a log."""
    return diagnose_log(parse_lines(lines), env)


def diagnose_log(log: ParsedLog, env: Context | None = None) -> Explanation:
    ctx = merge(context_from_log(log), env)
    found: list[tuple[float, int, Diagnosis]] = []
    for index, rule in enumerate(RULES):
        if not _holds(rule.when, ctx, log):
            continue
        hit = _where(rule, log)
        if not hit:
            continue
        tier, m = hit
        score = round(min(TIER_SCORE[tier] * rule.weight, 0.99), 2)
        found.append((score, index, Diagnosis(rule.cause, rule.summary, _fix(rule, ctx, log), _evidence(m, log.lines), score)))
    found.sort(key=lambda f: (-f[0], f[1]))
    ranked: list[Diagnosis] = []
    for _, _, d in found:
        if all(d.cause != r.cause for r in ranked):
            ranked.append(d)
    if ranked:
        ranked = [tailor(d, ctx) for d in ranked]
        top, rest = ranked[0], ranked[1:]
        for o in rest:  # the same line read by a more general rule (SSL vs any download failure) is no rival
            if o.evidence == top.evidence:
                o.confidence = round(min(o.confidence, top.confidence * 0.5), 2)
        rest.sort(key=lambda o: -o.confidence)
        if rest and rest[0].confidence >= top.confidence - 0.1:
            top.confidence = round(top.confidence * 0.8, 2)  # another line points elsewhere about as strongly: say so
        ranked = [top] + rest
    header = log.failing.header or (log.failing.lines[0] if log.failing.lines else "")
    return Explanation(ranked[0] if ranked else None, ranked[1:], header.strip()[:200], ctx.to_dict())


def explain(text: str, env: Context | None = None) -> Diagnosis | None:
    """The best diagnosis alone, or None when no known cause matches."""
    return diagnose(text, env).diagnosis


__all__ = ["Context", "Diagnosis", "Explanation", "diagnose", "diagnose_lines", "diagnose_stream", "explain"]
