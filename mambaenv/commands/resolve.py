"""resolve: the plan for a target env, printed (the URLs, or --json with where each answer comes from)."""
from __future__ import annotations

from dataclasses import dataclass

from mambaenv.errors import ExitCode
from mambaenv.packages import selected
from mambaenv.plan import Plan, PlanRequest, plan
from mambaenv.target import TargetArgs


@dataclass(frozen=True)
class ResolveRequest:
    package: str = "all"
    package_version: str | None = None
    facts: TargetArgs = TargetArgs()
    offline: bool = False
    wheelhouses: tuple[str, ...] = ()
    ask_index: bool = True  # online: also ask the package index which versions the catalog lacks
    no_third_party: bool = False


@dataclass
class ResolveResult:
    plan: Plan

    @property
    def packages(self):
        return self.plan.packages

    @property
    def freshness(self):
        return self.plan.freshness

    def to_dict(self) -> dict:
        return {"packages": [p.to_dict() for p in self.plan.packages], "catalog": [f.to_dict() for f in self.plan.freshness]}

    @property
    def exit_code(self) -> int:
        return ExitCode.OK if not self.plan.missing() else ExitCode.NO_WORKING_PATH


def resolve(req: ResolveRequest) -> ResolveResult:
    names = selected(req.package)
    target = req.facts.resolve()
    preq = PlanRequest.configured(target, names, wheelhouses=req.wheelhouses, no_third_party=req.no_third_party, version=req.package_version,
                                  offline=req.offline, ask_index=req.ask_index, probe_newer=req.ask_index)
    return ResolveResult(plan(preq))
