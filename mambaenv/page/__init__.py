"""The catalog as a static page: which wheel for this torch, CUDA, Python, C++ ABI, machine and GPU, answered in a browser.

Every answer is the planner's own (plan.plan_package, as ``mambaenv resolve --offline --json`` gives it), computed
once per combination by ``mambaenv catalog page``; the page's script only looks answers up, so it can never disagree
with resolve (no second copy of the compat rules lives in JavaScript). This module holds no decision: the
combinations, and the data format. The data is stored once per distinct answer, and the combinations refer to
answers by number: the whole catalog stays small enough to embed in one HTML file that works from file:// (browsers
refuse fetch() there), with the same data beside it as answers.json for scripts.
"""
from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Iterator

from mambaenv.upstream import MACHINES

# PyTorch's CUDA builds and Pythons of each release, as torch.version.cuda reports them: pytorch/pytorch RELEASE.md,
# "Release Compatibility Matrix" (stable and experimental CUDA; Pythons from its range, experimental ones included
# when wheels were published for them), read 2026-12.
TORCH_BUILDS = {
    "1.12": (("11.3", "11.6"), ("3.7", "3.10")), "1.13": (("11.6", "11.7"), ("3.7", "3.10")),
    "2.0": (("11.7", "11.8"), ("3.8", "3.11")), "2.1": (("11.8", "12.1"), ("3.8", "3.11")),
    "2.2": (("11.8", "12.1"), ("3.8", "3.12")), "2.3": (("11.8", "12.1"), ("3.8", "3.12")),
    "2.4": (("11.8", "12.1", "12.4"), ("3.8", "3.12")), "2.5": (("11.8", "12.1", "12.4"), ("3.9", "3.13")),
    "2.6": (("11.8", "12.4", "12.6"), ("3.9", "3.13")), "2.7": (("11.8", "12.6", "12.8"), ("3.9", "3.13")),
    "2.8": (("12.6", "12.8", "12.9"), ("3.9", "3.13")), "2.9": (("12.6", "12.8", "13.0"), ("3.10", "3.14")),
    "2.10": (("12.6", "12.8", "13.0"), ("3.10", "3.14")), "2.11": (("12.6", "12.8", "13.0"), ("3.10", "3.14")),
    "2.12": (("12.6", "13.0", "13.2"), ("3.10", "3.14")), "2.13": (("12.6", "13.0", "13.2"), ("3.10", "3.15")),
    "2.14": (("12.6", "13.0", "13.2"), ("3.10", "3.15")), "2.15": (("12.6", "13.0", "13.2"), ("3.10", "3.15")),
}
# What the matrix as read did not say; the page shows it beside the torch.
UNCERTAIN = {"2.15": "not yet in PyTorch's release matrix as read (2026-12): 2.14's CUDA builds and Pythons assumed"}
ABIS = (True, False)
# Compute capabilities (what --gpu-arch takes), each with the cards people know it by; None: not checked.
GPUS = ((None, "any (not checked)"), ("6.1", "6.1: GTX 10xx, P40"), ("7.0", "7.0: V100"), ("7.5", "7.5: T4, RTX 20xx"),
        ("8.0", "8.0: A100, A30"), ("8.6", "8.6: RTX 30xx, A10, A40"), ("8.9", "8.9: L4, L40, RTX 40xx"), ("9.0", "9.0: H100, H200"),
        ("10.0", "10.0: B200, GB200"), ("12.0", "12.0: RTX 50xx, RTX PRO 6000"))
STRING_FIELDS = ("package", "origin", "version", "tag", "file", "url", "sha256", "source", "cuda_toolkit", "reason", "index", "requirement")
ANSWER_KEYS = ("package", "origin", "version", "tag", "file", "url", "size", "sha256", "source", "cuda_toolkit", "archs", "reason",
               "alternatives", "unchecked", "third_party", "index", "requirement")


@dataclass(frozen=True)
class Combo:
    """One choice of the page's selectors; ``cxx11abi`` and ``gpu`` as resolve's flags take them."""

    torch: str
    cuda: str
    python: str
    cxx11abi: bool
    machine: str
    gpu: str | None

    def resolve_args(self) -> list[str]:
        """The same question on the command line: ``mambaenv resolve --offline`` plus these."""
        args = ["--python", self.python, "--torch", self.torch, "--torch-cuda", self.cuda, "--cxx11abi", str(self.cxx11abi).lower(),
                "--machine", self.machine]
        return args + (["--gpu-arch", self.gpu] if self.gpu else [])


def builds() -> list[tuple[str, str]]:
    return [(t, c) for t, (cudas, _) in TORCH_BUILDS.items() for c in cudas]


def pythons_of(torch: str) -> list[str]:
    """The Pythons PyTorch published that torch for, oldest first."""
    first, last = (int(v.split(".")[1]) for v in TORCH_BUILDS[torch][1])
    return [f"3.{minor}" for minor in range(first, last + 1)]


def all_pythons() -> list[str]:
    return sorted({p for t in TORCH_BUILDS for p in pythons_of(t)}, key=lambda p: int(p.split(".")[1]))


def combos_of(build: tuple[str, str]) -> Iterator[Combo]:
    for python, abi, machine, (gpu, _) in itertools.product(pythons_of(build[0]), ABIS, MACHINES, GPUS):
        yield Combo(build[0], build[1], python, abi, machine, gpu)


def combos() -> Iterator[Combo]:
    """Every combination, in the order the page's index counts them (the last selector varies fastest)."""
    for build in builds():
        yield from combos_of(build)


def answer_of(planned: dict) -> dict:
    """A package's plan (PackagePlan.to_dict, resolve --json's per-package shape) cut to the fields the page shows."""
    return {k: planned[k] for k in ANSWER_KEYS}


class Strings:
    """Every string once: an answer names its strings by number (reasons and URLs repeat across thousands of answers)."""

    def __init__(self):
        self.index: dict[str, int] = {}
        self.values: list[str] = []

    def __call__(self, text: str | None) -> int | None:
        if text is None:
            return None
        if text not in self.index:
            self.index[text] = len(self.values)
            self.values.append(text)
        return self.index[text]


def encode(answer: dict, strings: Strings) -> list:
    """An answer as a row in ANSWER_KEYS order: strings by number, alternatives as [kind, summary, command] rows."""
    row = []
    for key in ANSWER_KEYS:
        value = answer[key]
        if key == "alternatives":
            value = [[strings(a["kind"]), strings(a["summary"]), strings(a["command"])] for a in value]
        elif key == "unchecked":
            value = [strings(v) for v in value]
        elif isinstance(value, str):
            value = strings(value)
        row.append(value)
    return row


def decode(data: dict, number: int) -> dict:
    """Answer ``number`` of page data as resolve --json spells it (the page's script does the same)."""
    s = data["strings"]
    row = dict(zip(data["answer_fields"], data["answers"][number]))
    for key, value in row.items():
        if key == "alternatives":
            row[key] = [{"kind": s[k], "summary": s[m], "command": None if c is None else s[c]} for k, m, c in value]
        elif key == "unchecked":
            row[key] = [s[v] for v in value]
        elif key in STRING_FIELDS and value is not None:
            row[key] = s[value]
    return row


def page_data(answers: Iterator[list[dict]], about: dict, packages: tuple[str, ...]) -> dict:
    """Each distinct answer once, and per combination (combos() order) the number of each package's answer."""
    strings, distinct, rows, table = Strings(), {}, [], []
    for per_package in answers:
        for answer in per_package:
            row = json.dumps(encode(answer, strings))
            if row not in distinct:
                distinct[row] = len(rows)
                rows.append(json.loads(row))
            table.append(distinct[row])
    dims = {"build": [list(b) for b in builds()], "pythons": {t: pythons_of(t) for t in TORCH_BUILDS}, "python": all_pythons(),
            "cxx11abi": list(ABIS), "machine": list(MACHINES), "gpu": [{"cap": cap, "label": label} for cap, label in GPUS],
            "uncertain": UNCERTAIN}
    return {"about": about, "packages": list(packages), "dims": dims, "answer_fields": list(ANSWER_KEYS),
            "string_fields": list(STRING_FIELDS), "strings": strings.values, "answers": rows, "table": table}


def html_of(data: dict) -> str:
    """The page: the template with the data embedded (``</`` escaped, so no answer can end the script element)."""
    template = resources.files(__package__).joinpath("page.html").read_text()
    blob = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    return template.replace("/*ANSWERS*/{}", blob)


def write_page(folder: Path, data: dict) -> dict[str, int]:
    """index.html (self-contained) and answers.json, each written beside its name and renamed into place."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {"index.html": html_of(data), "answers.json": json.dumps(data, separators=(",", ":"))}
    sizes = {}
    for name, text in files.items():
        tmp = folder / f".{name}.mambaenv-tmp"
        tmp.write_text(text)
        tmp.replace(folder / name)
        sizes[name] = (folder / name).stat().st_size
    return sizes
