"""Translation-unit split: heavy CUDA files cut into sibling files that nvcc compiles in parallel.

A source rewrite beside the ``-gencode`` one in build.py. nvcc runs one process per source file, so a file
holding many explicit template instantiations sets the wall time while most cores idle. Two techniques:

- instantiation list (causal_conv1d's fwd/bwd/update): the file ends in ``template void f<...>(...);`` lines.
  The original keeps its definitions and none of those lines; K siblings each ``#include`` the original and
  keep a share of them.
- launch split (mamba_ssm's selective_scan files): the file holds one instantiation of a dispatcher whose body
  calls ``launch<N, I, input_t, weight_t>(...)`` for a few literal (N, I) pairs, each a heavy set of kernels.
  The original declares those launches ``extern template`` (so it compiles only the dispatcher); each sibling
  holds one explicit instantiation of one launch.

Both are refused, and the file built unsplit, unless the shape is exactly what the rewrite understands; the
definitions a sibling includes must be templates or other things that may appear in several translation units.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

# `template void f<A, B>(X &p, cudaStream_t s);` -- explicit instantiation definition (no `template<`).
INSTANTIATION = re.compile(r"^\s*template(?!\s*<)\s+[^;{}]*?(?P<name>\w+)\s*<(?P<args>[^;{}]*)>\s*\((?P<params>[^;{}]*)\)\s*;\s*(?://.*)?$")
INCLUDE = re.compile(r'^\s*#\s*include\s+"(?P<path>[^"]+)"')
SOURCE_LITERAL = r"""(?P<q>["'])(?P<path>{path})(?P=q)"""
CU_SOURCE = re.compile(r"""["'](?P<path>[\w./-]+\.cu)["']""")
# launch<32, 4, input_t, weight_t>(params, stream);  -- literal ints first, then type names
LAUNCH_CALL = re.compile(r"\b(?P<name>\w+)\s*<(?P<args>\s*\d+\s*(?:,\s*\d+\s*)*,\s*[\w:]+\s*(?:,\s*[\w:]+\s*)*)>"
                         r"\s*\(\s*params\s*,\s*stream\s*\)\s*;")
SIBLING_SUFFIX = "_mesplit{:02d}.cu"
MIN_UNITS_PER_PIECE = 1


@dataclass
class FileSplit:
    original: str  # path as setup.py writes it
    technique: str  # "instantiations" | "launches"
    units: int
    siblings: list[str]
    new_original: str = ""
    sibling_texts: list[str] = field(default_factory=list)
    keep_original: bool = False  # the launch split's original still compiles (the dispatcher)
    # Rough cost per piece (units x bytes compiled), for the report. Ordering setup.py's list by it would not
    # help: torch's ninja build started the objects in name order on the H200, not in list order.
    piece_costs: list[int] = field(default_factory=list)

    @property
    def sources(self) -> list[str]:
        """What setup.py lists in the original's place."""
        return self.siblings + ([self.original] if self.keep_original else [])

    def to_dict(self) -> dict:
        return {"file": self.original, "technique": self.technique, "units": self.units, "pieces": len(self.siblings)}


@dataclass
class SplitReport:
    splits: list[FileSplit]
    skipped: list[dict]  # {"file", "reason"}
    setup_py: str

    def to_dict(self) -> dict:
        return {"split": [s.to_dict() for s in self.splits], "unsplit": self.skipped}

    def summary(self) -> str:
        parts = [f"{Path(s.original).name} -> {len(s.siblings)} files ({s.units} {s.technique})" for s in self.splits]
        unsplit = [f"{Path(d['file']).name} ({d['reason']})" for d in self.skipped]
        if not self.splits:
            return "no file split, built as upstream lays it out: " + ("; ".join(unsplit) or "no CUDA sources found")
        return "; ".join(parts) + (f"; built whole: {'; '.join(unsplit)}" if unsplit else "")


# --- C++ reading, just enough to refuse what the rewrite does not understand ----------------------------

def strip_comments(text: str) -> str:
    """Comments and string/char literals blanked (same length, newlines kept), so braces can be counted."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(c + " " * (j - i - 2) + (c if j - i >= 2 else ""))
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def drop_preprocessor(text: str) -> str:
    lines = text.split("\n")
    out, cont = [], False
    for ln in lines:
        if cont or ln.lstrip().startswith("#"):
            cont = ln.rstrip().endswith("\\")
            out.append("")
        else:
            out.append(ln)
    return "\n".join(out)


def top_level_items(text: str) -> list[tuple[str, str]]:
    """(head, terminator) for each top-level item: terminator '{' for a definition with a body, ';' otherwise."""
    code = drop_preprocessor(strip_comments(text))
    items, head, depth, paren = [], [], 0, 0
    for c in code:
        if depth == 0:
            if c == "(":
                paren += 1
            elif c == ")":
                paren -= 1
            if c == "{" and paren == 0:
                items.append((" ".join("".join(head).split()), "{"))
                head = []
                depth = 1
            elif c == ";" and paren == 0:
                h = " ".join("".join(head).split())
                if h:
                    items.append((h, ";"))
                head = []
            else:
                head.append(c)
        else:
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
    return items


_SHAREABLE_BODY = re.compile(r"^(template\s*<|(?:typedef\s+)?(?:struct|class|union|enum)\b|static\b|inline\b|__forceinline__|namespace\s*$)")
_SHAREABLE_DECL = re.compile(r"^(template\b|extern\b|using\b|typedef\b|static\b|(?:struct|class|union|enum)\b|static_assert\b|namespace\s+\w+\s*=)")


def unshareable(text: str) -> str | None:
    """The first top-level item that must not appear in two translation units (a non-template, non-inline
    function or variable definition), or None when including the text in several siblings is safe."""
    for head, term in top_level_items(text):
        if term == "{":
            if head.startswith("}"):  # `} x;` after a struct body cannot occur at depth 0 here
                return head[:80]
            if not _SHAREABLE_BODY.match(head):
                return head[:80] or "{"
        else:
            if head.startswith("}"):
                head = head.lstrip("} ").strip()
                if not head:
                    continue
            if _SHAREABLE_DECL.match(head):
                continue
            if "(" in head and "=" not in head and not re.search(r"\b__(?:constant|device|managed|shared)__\b", head):
                continue  # a function declaration
            return head[:80]
    return None


# --- the two techniques -------------------------------------------------------------------------------

def deal(items: list, pieces: int) -> list[list]:
    """Items dealt round-robin: neighbours in a list are often alike in cost (causal_conv1d's heavy
    channel-last instantiations sit together at the end), so dealing spreads them over the pieces."""
    return [items[i::pieces] for i in range(pieces)]


def pieces_for(units: int, max_pieces: int, per_piece_min: int) -> int:
    return max(1, min(math.ceil(units / per_piece_min), max(1, max_pieces)))


def max_pieces_per_file(jobs: int, candidates: int) -> int:
    """Enough pieces that the package's split files together fill about twice its jobs (nvcc's work per
    piece is uneven), never fewer than two per file."""
    return max(2, math.ceil(2 * max(1, jobs) / max(1, candidates)))


def tail_instantiations(text: str) -> tuple[list[int], str | None]:
    """Line numbers of the trailing list of explicit instantiations; (lines, None) or ([], reason)."""
    lines = text.splitlines()
    code_lines = strip_comments(text).splitlines()
    idx = []
    i = len(lines) - 1
    while i >= 0:
        ln = code_lines[i].strip() if i < len(code_lines) else ""
        if not ln:
            i -= 1
            continue
        if INSTANTIATION.match(lines[i]):
            idx.append(i)
            i -= 1
            continue
        break
    idx.reverse()
    if not idx:
        return [], "no list of explicit instantiations at the end"
    earlier = [j for j in range(0, idx[0]) if INSTANTIATION.match(lines[j])]
    if earlier:
        return [], f"explicit instantiations also at line {earlier[0] + 1}, before the list"
    return idx, None


def _local_include_bytes(text: str, src_dir: Path | None) -> int:
    if src_dir is None:
        return 0
    total = 0
    for ln in text.splitlines():
        m = INCLUDE.match(ln)
        if m and (src_dir / m.group("path")).is_file():
            total += (src_dir / m.group("path")).stat().st_size
    return total


def _sibling_name(original: str, i: int) -> str:
    return original[: -len(".cu")] + SIBLING_SUFFIX.format(i)


def split_instantiation_list(original: str, text: str, max_pieces: int, src_dir: Path | None = None) -> tuple[FileSplit | None, str | None]:
    idx, why = tail_instantiations(text)
    if why:
        return None, why
    if len(idx) < 2:
        return None, "a single instantiation"
    lines = text.splitlines(keepends=True)
    defs = "".join(ln for j, ln in enumerate(lines) if j not in set(idx))
    bad = unshareable(defs)
    if bad:
        return None, f"its definitions cannot be included twice ({bad!r})"
    k = pieces_for(len(idx), max_pieces, MIN_UNITS_PER_PIECE)
    if k < 2:
        return None, "one piece is enough for the jobs given"
    base = Path(original).name
    new_original = defs.rstrip("\n") + (f"\n\n// mambaenv: the {len(idx)} explicit instantiations that ended this file moved to "
                                        f"{k} sibling files ({Path(_sibling_name(original, 0)).name} ...) that include it.\n")
    siblings, texts, costs = [], [], []
    for i, share_idx in enumerate(deal(idx, k)):
        share = [lines[j].rstrip("\n") for j in share_idx]
        costs.append(len(share) * (len(defs) + _local_include_bytes(defs, src_dir)))
        siblings.append(_sibling_name(original, i))
        texts.append(f"// mambaenv: piece {i + 1} of {k} of {base}'s explicit instantiations, compiled on its own.\n"
                     f'#include "{base}"\n\n' + "\n".join(share) + "\n")
    return FileSplit(original, "instantiations", len(idx), siblings, new_original, texts, piece_costs=costs), None


def _template_params(header_code: str, name: str) -> tuple[list[str], str] | None:
    """(template parameter names, parameter list) of function template `name` defined in the header."""
    m = re.search(r"template\s*<(?P<tp>[^<>]*)>\s*(?:static\s+|inline\s+)*void\s+" + re.escape(name) + r"\s*\((?P<params>[^)]*)\)\s*\{", header_code)
    if not m:
        return None
    names = [p.split()[-1] for p in (x.strip() for x in m.group("tp").split(",")) if p]
    return names, " ".join(m.group("params").split())


def _body_of(header_code: str, name: str) -> str | None:
    m = re.search(r"void\s+" + re.escape(name) + r"\s*\([^)]*\)\s*\{", header_code)
    if not m:
        return None
    depth, i = 1, m.end()
    while i < len(header_code) and depth:
        depth += {"{": 1, "}": -1}.get(header_code[i], 0)
        i += 1
    return header_code[m.end():i - 1]


def drop_rocm_branches(code: str) -> str:
    """Keep the CUDA side of `#ifndef USE_ROCM ... #else ... #endif` (and `#ifdef USE_ROCM`); every other
    conditional keeps all its branches, so a launch the build may need is never missed."""
    out, stack = [], []  # stack of (is_rocm_conditional, keep_current_branch)
    for ln in code.split("\n"):
        s = ln.strip()
        m = re.match(r"#\s*(ifndef|ifdef|if|else|elif|endif)\b\s*(.*)", s)
        if m:
            kw, arg = m.group(1), m.group(2).strip()
            if kw in ("ifndef", "ifdef", "if"):
                rocm = arg == "USE_ROCM" and kw in ("ifndef", "ifdef")
                stack.append((rocm, (kw == "ifndef") if rocm else True))
            elif kw in ("else", "elif") and stack:
                rocm, keep = stack[-1]
                stack[-1] = (rocm, (not keep) if rocm else True)
            elif kw == "endif" and stack:
                stack.pop()
            out.append("")
            continue
        out.append(ln if all(keep for _, keep in stack) else "")
    return "\n".join(out)


def split_launches(original: str, text: str, src_dir: Path, max_pieces: int) -> tuple[FileSplit | None, str | None]:
    """One explicit instantiation of a dispatcher that calls launch<ints..., types...>(params, stream)."""
    idx, why = tail_instantiations(text)
    if why:
        return None, why
    lines = text.splitlines(keepends=True)
    before = "".join(ln for j, ln in enumerate(lines) if j < idx[0])
    if unshareable(before):
        return None, f"code before the instantiations cannot be included twice ({unshareable(before)!r})"
    includes = [INCLUDE.match(ln).group("path") for ln in before.splitlines() if INCLUDE.match(ln)]
    header_code = ""
    for inc in includes:
        p = src_dir / inc
        if p.is_file() and p.resolve().is_relative_to(src_dir.resolve()):
            header_code += drop_rocm_branches(strip_comments(p.read_text(errors="replace"))) + "\n"
    units: list[str] = []
    externs: list[str] = []
    for j in idx:
        m = INSTANTIATION.match(lines[j])
        fname, fargs = m.group("name"), [a.strip() for a in m.group("args").split(",")]
        tp = _template_params(header_code, fname)
        body = _body_of(header_code, fname)
        if not tp or body is None or len(tp[0]) != len(fargs):
            return None, f"the definition of {fname} was not found in the included headers"
        binding = dict(zip(tp[0], fargs))
        calls = sorted({(c.group("name"), " ".join(c.group("args").split())) for c in LAUNCH_CALL.finditer(body)},
                       key=lambda c: [int(x) if x.strip().isdigit() else 0 for x in c[1].split(",")])
        if len(calls) < 2:
            return None, f"{fname} does not dispatch to several launches"
        for lname, largs in calls:
            ltp = _template_params(header_code, lname)
            if not ltp:
                return None, f"the launch {lname} was not found in the included headers"
            raw = [a.strip() for a in largs.split(",")]
            if len(raw) != len(ltp[0]) or any(not a.isdigit() and a not in binding for a in raw):
                return None, f"cannot bind the template arguments of {lname}"
            bound = [binding.get(a, a) for a in raw]
            # the launch's own parameter list may name its template parameters (T* p): bind those too
            names = dict(zip(ltp[0], bound))
            params = re.sub(r"\b\w+\b", lambda w, names=names: names.get(w.group(0), w.group(0)), ltp[1])
            decl = f"void {lname}<{', '.join(bound)}>({params});"
            if decl not in units:
                units.append(decl)
                externs.append("extern template " + decl)
    if len(units) < 2:
        return None, "fewer than two launches"
    marker = "// mambaenv: these launches are compiled in sibling files, in parallel; this file keeps the dispatcher.\n"
    new_original = before.rstrip("\n") + "\n\n" + marker + "\n".join(externs) + "\n\n" + "".join(lines[idx[0]:])
    k = pieces_for(len(units), max_pieces, 1)
    siblings, texts, costs = [], [], []
    for i, share in enumerate(deal(units, k)):
        costs.append(len(share) * len(header_code))
        siblings.append(_sibling_name(original, i))
        texts.append(f"// mambaenv: piece {i + 1} of {k} of {Path(original).name}'s launches, compiled on its own.\n"
                     + before.rstrip("\n") + "\n\n" + "".join(f"template {d}\n" for d in share))
    return FileSplit(original, "launches", len(units), siblings, new_original, texts, keep_original=True, piece_costs=costs), None


# --- setup.py and the whole tree ---------------------------------------------------------------------

def cuda_sources(setup_py: str) -> list[str]:
    code = strip_comments_py(setup_py)
    return list(dict.fromkeys(m.group("path") for m in CU_SOURCE.finditer(code)))


def strip_comments_py(setup_py: str) -> str:
    return "\n".join(ln for ln in setup_py.splitlines() if not ln.lstrip().startswith("#"))


def replace_source(setup_py: str, original: str, siblings: list[str]) -> str | None:
    pat = re.compile(SOURCE_LITERAL.format(path=re.escape(original)))
    found = [m for m in pat.finditer(setup_py)]
    if len(found) != 1:
        return None
    m = found[0]
    q = m.group("q")
    return setup_py[:m.start()] + ", ".join(f"{q}{s}{q}" for s in siblings) + setup_py[m.end():]


def plan_split(src_root: Path, setup_py: str, jobs: int) -> SplitReport:
    """Pure apart from reading the unpacked sdist: which files split, their new texts and setup.py's."""
    splits, skipped = [], []
    new_setup = setup_py
    sources = cuda_sources(setup_py)
    readable = {rel: (src_root / rel) for rel in sources
                if (src_root / rel).is_file() and (src_root / rel).resolve().is_relative_to(src_root.resolve())}
    candidates = sum(1 for p in readable.values() if tail_instantiations(p.read_text(errors="replace"))[1] is None)
    max_pieces = max_pieces_per_file(jobs, candidates)
    for rel in sources:
        path = src_root / rel
        if not path.is_file() or not path.resolve().is_relative_to(src_root.resolve()):
            skipped.append({"file": rel, "reason": "not in the sdist"})
            continue
        text = path.read_text(errors="replace")
        fs, why = split_instantiation_list(rel, text, max_pieces, path.parent)
        if fs is None:
            fs, why2 = split_launches(rel, text, path.parent, max_pieces)
            if fs is None:
                skipped.append({"file": rel, "reason": why if why2 == why or why.startswith("no list") else f"{why}; {why2}"})
                continue
        updated = replace_source(new_setup, rel, fs.sources)
        if updated is None:
            skipped.append({"file": rel, "reason": "setup.py does not list it exactly once"})
            continue
        new_setup = updated
        splits.append(fs)
    return SplitReport(splits, skipped, new_setup)


def apply_split(src_root: Path, jobs: int) -> SplitReport:
    setup = src_root / "setup.py"
    report = plan_split(src_root, setup.read_text(), jobs)
    for fs in report.splits:
        orig = src_root / fs.original
        for name, body in zip(fs.siblings, fs.sibling_texts):
            (src_root / name).write_text(body)
        orig.write_text(fs.new_original)
    if report.splits:
        setup.write_text(report.setup_py)
    return report
