"""The catalog as a static page: which wheel for this torch, CUDA, Python, C++ ABI, machine and GPU, answered in a browser.

Every answer is the resolver's own, computed here once per combination; the page's script only looks answers up, so
it can never disagree with ``mambaenv resolve`` (no second copy of the compat rules lives in JavaScript). The data is
stored once per distinct answer, and the combinations refer to answers by number: the whole catalog stays small
enough to embed in one HTML file that works from file:// (browsers refuse fetch() there), with the same data
beside it as answers.json for scripts.
"""
from __future__ import annotations

import dataclasses
import itertools
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Callable, Iterator

from mambaenv.catalog import load_catalog
from mambaenv.resolve import resolve_all
from mambaenv.target import explicit_target
from mambaenv.upstream import MACHINES, PACKAGES

# PyTorch's CUDA builds of each release, as torch.version.cuda reports them (pytorch.org "Previous PyTorch Versions"
# and the release compatibility matrix in pytorch/pytorch RELEASE.md). The wheel a torch takes depends on its CUDA
# major only, so another minor of the same major (a conda-forge build, say) gets the same files.
TORCH_BUILDS = {
    "1.12": ("11.3", "11.6"), "1.13": ("11.6", "11.7"), "2.0": ("11.7", "11.8"), "2.1": ("11.8", "12.1"), "2.2": ("11.8", "12.1"),
    "2.3": ("11.8", "12.1"), "2.4": ("11.8", "12.1", "12.4"), "2.5": ("11.8", "12.1", "12.4"), "2.6": ("11.8", "12.4", "12.6"),
    "2.7": ("11.8", "12.6", "12.8"), "2.8": ("12.6", "12.8", "12.9"), "2.9": ("12.6", "12.8", "13.0"), "2.10": ("12.6", "12.8", "13.0"),
}
PYTHONS = ("3.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "3.14")
ABIS = (True, False)
# Compute capabilities (what --gpu-arch takes), each with the cards people know it by; None: not checked.
GPUS = ((None, "any (not checked)"), ("6.1", "6.1: GTX 10xx, P40"), ("7.0", "7.0: V100"), ("7.5", "7.5: T4, RTX 20xx"),
        ("8.0", "8.0: A100, A30"), ("8.6", "8.6: RTX 30xx, A10, A40"), ("8.9", "8.9: L4, L40, RTX 40xx"), ("9.0", "9.0: H100, H200"),
        ("10.0", "10.0: B200, GB200"), ("12.0", "12.0: RTX 50xx, RTX PRO 6000"))
STRING_FIELDS = ("package", "version", "tag", "file", "url", "sha256", "source", "cuda_toolkit", "reason")
ANSWER_KEYS = ("package", "version", "tag", "file", "url", "size", "sha256", "source", "cuda_toolkit", "archs", "reason", "alternatives",
               "unchecked")


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
    return [(t, c) for t, cudas in TORCH_BUILDS.items() for c in cudas]


def combos_of(build: tuple[str, str]) -> Iterator[Combo]:
    for python, abi, machine, (gpu, _) in itertools.product(PYTHONS, ABIS, MACHINES, GPUS):
        yield Combo(build[0], build[1], python, abi, machine, gpu)


def combos() -> Iterator[Combo]:
    """Every combination, in the order the page's index counts them (the last selector varies fastest)."""
    for build in builds():
        yield from combos_of(build)


def answers_for(catalog, combo: Combo) -> list[dict]:
    """The seam to the resolver: one combination in, each package's answer (resolve --json's fields) out."""
    target = explicit_target(combo.python, combo.torch, combo.cuda, str(combo.cxx11abi).lower(), combo.machine, None)
    if combo.gpu:
        target = dataclasses.replace(target, gpu_caps=(combo.gpu,))
    return [{k: c.to_dict()[k] for k in ANSWER_KEYS} for c in resolve_all(catalog, target)]


_WORKER_CATALOG = None  # each worker process loads the catalog once


def _load_worker_catalog(cache: Path | None, offline: bool) -> None:
    global _WORKER_CATALOG
    _WORKER_CATALOG = load_catalog(cache, offline=offline)


def _answers_of_build(build: tuple[str, str]) -> list[list[dict]]:
    return [answers_for(_WORKER_CATALOG, c) for c in combos_of(build)]


def all_answers(cache: Path | None, offline: bool, jobs: int, progress: Callable[[int, int], None] | None = None) -> Iterator[list[dict]]:
    """Each combination's answers, in combos() order; one torch build per task, spread over ``jobs`` processes
    (the resolver takes a few milliseconds a question, and there are some ten thousand questions)."""
    todo = builds()
    if jobs <= 1:
        _load_worker_catalog(cache, offline)
        results: Iterator = map(_answers_of_build, todo)
    else:
        from concurrent.futures import ProcessPoolExecutor  # start-up: processes only for a page

        pool = ProcessPoolExecutor(jobs, initializer=_load_worker_catalog, initargs=(cache, offline))
        results = pool.map(_answers_of_build, todo)
    try:
        for i, answers in enumerate(results):
            if progress:
                progress(i, len(todo))
            yield from answers
    finally:
        if jobs > 1:
            pool.shutdown(cancel_futures=True)


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


def page_data(answers: Iterator[list[dict]], about: dict) -> dict:
    """Each distinct answer once, and per combination (combos() order) the number of each package's answer."""
    strings, distinct, rows, table = Strings(), {}, [], []
    for per_package in answers:
        for answer in per_package:
            row = json.dumps(encode(answer, strings))
            if row not in distinct:
                distinct[row] = len(rows)
                rows.append(json.loads(row))
            table.append(distinct[row])
    dims = {"build": [list(b) for b in builds()], "python": list(PYTHONS), "cxx11abi": list(ABIS), "machine": list(MACHINES),
            "gpu": [{"cap": cap, "label": label} for cap, label in GPUS]}
    return {"about": about, "packages": list(PACKAGES), "dims": dims, "answer_fields": list(ANSWER_KEYS), "strings": strings.values,
            "answers": rows, "table": table}


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
