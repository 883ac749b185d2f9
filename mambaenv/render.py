"""Human output: rich tables and one-line messages. JSON output is built by the commands."""
from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
import time

from mambaenv.upstream import CUDA_TAG_ERAS


@functools.lru_cache(maxsize=None)
def _consoles():
    # start-up: rich loads when there is something to show; a resolve that prints URLs or any --json answer never loads it
    from rich.console import Console

    return Console(highlight=False, width=_pipe_width(sys.stdout)), Console(stderr=True, highlight=False, width=_pipe_width(sys.stderr))


def _pipe_width(stream) -> int | None:
    """Into a pipe or a file (a CI log, | less, > report.txt), lines are not folded at rich's 80 columns: a folded
    path or command is one that cannot be copied. A terminal, or COLUMNS, still sets the width."""
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    return None if tty or os.environ.get("COLUMNS") else 100_000


def out():
    """The stdout console."""
    return _consoles()[0]


def err():
    """The stderr console."""
    return _consoles()[1]


def escape(text: str) -> str:
    """rich markup escaped: data from the env, servers and paths may hold [...]."""
    from rich.markup import escape as rich_escape  # start-up: rich loads only to show something

    return rich_escape(text)

PLAIN_PROGRESS_EVERY_S = 5.0  # without a terminal: one line per this many seconds, so a CI log stays readable


def plain_progress_every_s() -> float:
    """MAMBAENV_PROGRESS_EVERY_S overrides the period (a CI that wants a denser or sparser log)."""
    try:
        return float(os.environ.get("MAMBAENV_PROGRESS_EVERY_S", PLAIN_PROGRESS_EVERY_S))
    except ValueError:
        return PLAIN_PROGRESS_EVERY_S


STATUS_STYLE = {"pass": "[green]pass[/]", "warn": "[yellow]warn[/]", "fail": "[red]FAIL[/]", "skip": "[dim]skip[/]", "info": "[blue]info[/]"}


def print_json(data) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False) + "\n")


def checks_table(checks):
    from rich.table import Table  # start-up: tables load only for the reports that draw them

    t = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    t.add_column("check")
    t.add_column("status")
    t.add_column("detail", overflow="fold")
    for c in checks:
        # data from the env, servers and paths may hold [...]: escaped, so rich shows it instead of eating it as markup
        detail = escape(c.detail) + (f"\n  [cyan]fix:[/] {escape(c.fix)}" if c.fix and c.status != "pass" and c.fix != c.detail else "")
        t.add_row(escape(c.name), STATUS_STYLE.get(c.status, escape(c.status)), detail)
    return t


ORIGIN_WORDS = {"local-build": "local build", "wheelhouse": "wheelhouse", "astral": "third-party: Astral's index"}


def choices_lines(plans, checks=()) -> list[str]:
    """The answer per package (plan.PackagePlan); with doctor's checks, a package whose missing wheel is information
    (installed and working) gets that one line instead of the alternatives to it."""
    settled = {k.name.split(":", 1)[1]: k.detail for k in checks if k.name.startswith("wheel:") and k.status == "info"}
    lines = []
    for c in plans:
        w = c.chosen
        if (w is None or w.url is None) and c.package in settled:
            lines.append(f"[bold]{escape(c.package)}[/]: {escape(settled[c.package])}")
        elif w is not None and w.url is None:
            lines.append(f"[bold]{escape(c.package)}[/]: {escape(w.reason)}")
        elif w is not None:
            where = (w.asset.tag if w.asset and w.origin == "upstream" else ORIGIN_WORDS.get(w.origin, w.origin))
            lines.append(f"[bold]{escape(c.package)}[/] {escape(w.version or '')} ({escape(where)}): {escape(w.url)}")
        else:
            lines.append(f"[bold]{escape(c.package)}[/]: [red]no prebuilt wheel[/]: {escape(c.reason or '')}")
            # An alternative that only restates the reason (a platform blocker) adds nothing: list the others.
            alternatives = [a for a in c.alternatives if a.command or a.summary != c.reason]
            for i, a in enumerate(alternatives, 1):
                lines.append(f"   {i}. {escape(a.summary)}" + (f"\n      [cyan]{escape(a.command)}[/]" if a.command else ""))
    return lines


def catalog_lines(rows: list[dict]) -> list[str]:
    """Releases under a header per package, then what "era" and "files" mean."""
    lines, package = [], None
    for r in rows:
        if r["package"] != package:
            package = r["package"]
            count = sum(1 for x in rows if x["package"] == package)
            lines += ([""] if lines else []) + [f"[bold]{escape(package)}[/] ({escape(r['repo'])}): {count} releases, newest first"]
        note = f"  ({r['no_wheels_reason']})" if r["no_wheels_reason"] else ""
        note += f"  (its files' version is served from {r['shadowed_by']})" if r.get("shadowed_by") else ""
        # a live catalog's tags come from the network: shown as they are, never read as markup
        lines.append(escape(f"  {r['tag']:<16} files {r['package_version']:<12} era {r['era']:<3} wheels {r['wheels']:>4} "
                            f"{r.get('source') or '':<9}{note}"))
    lines += ["", "files: the __version__ in the tag's code, which names its wheels; a tag made without bumping it "
              "carries files of the previous version (mamba v2.3.2 ships 2.3.1 files)."]
    lines += ["source: listed = the tag's real asset list (with sha256); predicted = expanded from its workflow matrix; "
              "live = from catalog refresh."]
    lines += [f"era {era}: {meaning}" for era, meaning in CUDA_TAG_ERAS.items()]
    return lines


def smoke_table(result):
    from rich.table import Table  # start-up: tables load only for the reports that draw them

    t = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for col in ("step", "status", "time", "detail"):
        t.add_column(col, overflow="fold")
    for s in result["steps"]:
        bits = []
        if s.get("max_abs_diff") is not None:
            bits.append(f"max |diff| {s['max_abs_diff']:.2e} (tolerance {s['tolerance']})")
        if s.get("speedup"):
            bits.append(f"{s['speedup']:.1f}x the reference's speed ({s['kernel_ms']:.3f} ms vs {s['reference_ms']:.3f} ms)")
        if s.get("bandwidth_gbs") and s.get("share_of_peak") is not None:
            bits.append(f"{s['bandwidth_gbs']:.0f} GB/s = {100 * s['share_of_peak']:.0f}% of peak {s['peak_bandwidth_gbs']} GB/s")
        elif s.get("bandwidth_gbs") and "bench" in s["name"]:
            bits.append(f"{s['bandwidth_gbs']:.0f} GB/s (this GPU's peak is unknown to mambaenv)")
        if s.get("detail"):
            bits.append(s["detail"])
        if s.get("version"):
            bits.append(str(s["version"]))
        if s.get("error") and s["status"] == "fail":
            bits.append(s["error"][:160])
        secs = f"{s['seconds']:.2f} s" if s.get("seconds") is not None else ""
        t.add_row(escape(s["name"]), STATUS_STYLE.get(s["status"], escape(s["status"])), secs, escape("; ".join(str(b) for b in bits)))
    return t


def _mb(n: int | None) -> str:
    return "?" if n is None else f"{n / 1e6:.1f} MB"


@contextlib.contextmanager
def progress(label: str, every_s: float | None = None):
    """Yield a callback(done, total): a rich bar on a terminal, plain periodic lines on stderr otherwise."""
    if err().is_terminal:
        # start-up: rich.progress loads only for a transfer on a terminal
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

        with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn(),
                      console=err()) as bar:
            task = bar.add_task(label, total=None)
            yield lambda done, total: bar.update(task, completed=done, total=total)
        return
    every_s = plain_progress_every_s() if every_s is None else every_s
    t0 = time.monotonic()
    state = {"last": t0, "done": 0, "total": None, "lines": 0}

    def cb(done, total):
        state["done"], state["total"] = done, total
        now = time.monotonic()
        if now - state["last"] >= every_s:
            state["last"] = now
            state["lines"] += 1
            share = f" ({100 * done / total:.0f}%)" if total else ""
            sys.stderr.write(f"{label}: {_mb(done)} of {_mb(total)}{share}\n")
            sys.stderr.flush()

    yield cb
    if state["lines"]:  # a short transfer says nothing; a long one that reported progress also reports its end
        sys.stderr.write(f"{label}: {_mb(state['done'])} in {time.monotonic() - t0:.1f} s\n")


class StatusLine:
    """A callback(text) and its context: a rich status line on a terminal; otherwise the latest text on stderr once
    ``every_s`` has passed since the start or the last line, so quick commands stay silent and long ones leave a trail."""

    def __init__(self, every_s: float | None = None):
        self.every_s = plain_progress_every_s() if every_s is None else every_s
        self._status = err().status("working") if err().is_terminal else None
        self._last_at, self._last_text = time.monotonic(), None

    def __enter__(self):
        if self._status:
            self._status.__enter__()
        return self

    def __exit__(self, *exc):
        if self._status:
            self._status.__exit__(*exc)

    def __call__(self, text: str) -> None:
        if self._status:
            self._status.update(text)
            return
        now = time.monotonic()
        if text != self._last_text and now - self._last_at >= self.every_s:
            self._last_at, self._last_text = now, text
            sys.stderr.write(text + "\n")
            sys.stderr.flush()


def status_line(quiet: bool):
    """(callback, context): a StatusLine and itself, or (None, a null context) for --json."""
    if quiet:
        return None, contextlib.nullcontext()
    line = StatusLine()
    return line, line


# --- one renderer per command: the human form of its result (--json prints result.to_dict()) ------

def doctor_report(result) -> None:
    out().print(f"[bold]mambaenv doctor[/] — target {escape(str(result.pyenv.to_dict()['python_path']))}")
    out().print(checks_table(result.checks))
    out().print()
    for line in choices_lines(result.plans, result.checks):
        out().print(line, soft_wrap=True)
    out().print()
    out().print("[green]A working path exists.[/]" if result.ok else "[red]No working path yet: see the fixes above.[/]")


def resolve_report(result) -> None:
    """The URLs on stdout, one per line (ready for a browser or a script); notes, warnings and fixes on stderr."""
    for f in result.freshness:
        if f.message:
            err().print(f"[yellow]note:[/] {escape(f.message)}", soft_wrap=True)
        elif f.error:  # the index only adds information: the catalog's answer stands, and the user is told it is unchecked
            err().print(f"[yellow]note:[/] whether the catalog knows every {f.package} release: {escape(f.error)}", soft_wrap=True)
    for c in result.packages:
        if c.chosen and c.chosen.url:
            print(c.chosen.url)
        if c.chosen and c.chosen.third_party:
            err().print(f"[yellow]note:[/] {escape(c.package)}: {escape(c.chosen.reason)} (pip/uv: {escape(c.chosen.requirement or '')} "
                        f"--index-url {escape(c.chosen.index or '')}; --no-third-party leaves it out)", soft_wrap=True)
    for problem in sorted({why for c in result.packages for _, why in c.errors}):
        err().print(f"[yellow]warning:[/] {escape(problem)}", soft_wrap=True)
    others = [c for c in result.packages if not (c.chosen and c.chosen.url)]
    if others:
        for line in choices_lines(others):
            err().print(line, soft_wrap=True)


def catalog_refresh_lines(counts: dict) -> None:
    for pkg, n in counts.items():
        out().print(f"{pkg}: {n} releases")


def catalog_report(rows: list[dict]) -> None:
    for line in catalog_lines(rows):
        out().print(line, soft_wrap=True)


def catalog_wheels_lines(rows: list[dict]) -> None:
    for w in rows:
        archs = ",".join(str(a) for a in w["archs"]) if w["archs"] is not None else "?"
        out().print(f"{w['tag']:<14} {w['source']:<9} {w['file']}  sm {archs}  {(w['sha256'] or '-')[:12]}", soft_wrap=True, markup=False)


def inspect_report(d: dict) -> None:
    archs = ", ".join(f"sm_{a}" for a in d["archs"]) if d["archs"] else "none found"
    torch = (f"NGC container {d['torch']}" if d["ngc"] else f"torch {d['torch']}") if d["torch"] else "torch not named"
    out().print(f"[bold]{escape(d['file'])}[/]", soft_wrap=True)
    out().print(f"  {d['package']} {d['version']}  python {d['python']}  {d['machine'] or 'any machine'}", markup=False)
    abi = {True: "TRUE", False: "FALSE", None: "-"}[d["cxx11_abi"]]
    out().print(f"  {torch}  CUDA {d['cuda'] or '-'}  cxx11abi{abi}", markup=False)
    out().print(f"  needs GLIBC {d['glibc_needed'] or '-'}  GLIBCXX {d['glibcxx_needed'] or '-'}", markup=False)
    out().print(f"  GPU code (SASS): {archs}")
    ptx = sorted({a for lib in d["libraries"] for a in lib["ptx"]})
    if ptx:
        out().print("  PTX (JIT-compiled on newer GPUs): " + ", ".join(f"compute_{a}" for a in ptx))
    for lib in d["libraries"]:
        note = f"  ({lib['note']})" if lib["note"] else ""
        out().print(f"    {lib['name']}: " + (", ".join(f"sm_{a}" for a in lib["archs"]) or "no GPU code") + note, soft_wrap=True, markup=False)


def download_lines(result) -> None:
    for r in result.files:
        where = f"  (from wheelhouse {r['wheelhouse']})" if r.get("wheelhouse") else ""
        out().print(f"{r['file']}  sha256 {r['sha256'][:16]}…{'  (cached)' if r['from_cache'] else ''}{where}", markup=False)


def bundle_lines(result) -> None:
    made = result.made
    out().print(f"wrote {made['bundle']}: {len(made['files'])} files, {made['bytes'] / 1e6:.1f} MB, for {made['env']}", markup=False)
    out().print("on the server, next to the bundle:")
    for line in made["next"]:
        out().print(f"  {line}", markup=False, soft_wrap=True)


def install_report(result) -> None:
    if result.conda:
        out().print(f"[green]installed[/] conda-forge's {escape(', '.join(result.conda))} with conda into {escape(str(result.prefix))} "
                    f"(torch {escape(str(result.torch))} kept)")
    if result.wheels:
        out().print(f"[green]installed[/] {escape(', '.join(result.wheels))} into {escape(str(result.prefix))} (torch {escape(str(result.torch))} kept)")
    for src in getattr(result, "sources", []):
        if src.get("origin") == "installed":
            out().print(f"  {src['package']} is already installed and fits this env: kept (--reinstall replaces it)", soft_wrap=True, markup=False)
        elif src.get("wheelhouse"):
            out().print(f"  {src['package']} from wheelhouse {src['wheelhouse']}", soft_wrap=True, markup=False)
        for problem in src.get("wheelhouse_errors") or []:
            err().print(f"[yellow]warning:[/] {escape(problem)}", soft_wrap=True)
    if result.created:
        out().print(f"activate it with: {result.activate}", markup=False)


SMOKE_VERDICT = {"passed": "[green]the Mamba kernels run on this GPU[/]", "no_cuda_device": "[yellow]no CUDA device here[/]: "
                 "the install cannot be proven on this machine", "failed": "[red]smoke test failed[/]"}


def smoke_report(result) -> None:
    out().print(smoke_table({"steps": [s.to_dict() for s in result.steps]}))
    for s in result.steps:
        if s.status == "fail":
            d = s.diagnosis
            out().print(f"[red]{escape(s.name)}[/]: {escape(str(s.facts.get('error', '')))}", soft_wrap=True)
            if d:
                out().print(f"  [bold]why:[/] {escape(d['summary'])}\n  [cyan]fix:[/] {escape(d['fix'])}", soft_wrap=True)
    out().print(f"{SMOKE_VERDICT[result.result]} ({result.total_seconds or 0:.1f} s)")


def explain_report(result) -> None:
    d, others = result.found.diagnosis, result.found.others
    if d:
        out().print(f"[bold]{escape(d.cause)}[/]: {escape(d.summary)}\n[cyan]fix:[/] {escape(d.fix)}\n[dim]from: {escape(d.evidence)}\n"
                      f"confidence {d.confidence:.2f}[/]", soft_wrap=True)
        if others:
            out().print("[dim]also possible: " + "; ".join(f"{escape(o.cause)} ({o.confidence:.2f})" for o in others) + "[/]",
                          soft_wrap=True)
    else:
        out().print("no known cause matches this text; run mambaenv doctor for the environment's facts")


def build_report(result) -> None:
    for r in result.builds:
        if "error" in r:
            out().print(f"[red]{r['package']}[/]: {escape(r['error'])}", soft_wrap=True)
        elif r.get("cached"):
            out().print(f"[green]{r['package']}[/]: {escape(r['wheel'])} (a local build for this env is in the cache; {r['size'] / 1e6:.1f} MB, "
                          f"arch {r['archs']})", soft_wrap=True)
        else:
            out().print(f"[green]{r['package']}[/]: {escape(r['wheel'])} ({r['size'] / 1e6:.1f} MB, {r['seconds']:.0f} s, arch {r['archs']})")
            if r.get("split"):
                out().print(f"  split: {r['split']}", soft_wrap=True, markup=False)


def docker_build_report(result) -> None:
    b = result.built
    out().print(f"[green]built[/] {escape(b['image'])} from {escape(b['base'])} (Python {b['python']}, torch {escape(str(b['torch']))})")
    out().print(f"run it: mambaenv docker run ./project --image {b['image']}", markup=False)


def docker_run_report(result) -> None:
    if result.detached:
        out().print(f"started {result.name} ({result.container}); mambaenv docker ps / attach / stop / rm", markup=False)


def docker_export_report(result) -> None:
    if result.sif:
        out().print(f"wrote {result.sif} with {result.apptainer}; in a Slurm job:", markup=False)
    else:
        out().print(f"no apptainer (or singularity) here: wrote {result.tar}; on the cluster run:", markup=False)
    for line in result.next_steps:
        out().print(f"  {line}", markup=False, soft_wrap=True)


def containers_lines(rows: list[dict]) -> None:
    if not rows:
        out().print("no mambaenv containers (start one with mambaenv docker run ./project)")
    for r in rows:
        out().print(f"{r['id']}  {r['name']:<24} {r['status']:<10} {r['image']:<28} {r['project']}", markup=False)


def publish_report(result) -> None:
    for f in result.added:
        out().print(f"[green]added[/] {escape(str(f))}")
    for f in result.unchanged:
        out().print(f"unchanged {f} (already published with the same sha256)", markup=False)
    for f in result.left_out:  # things dropped into packages/ by hand that the index will not list
        err().print(f"warning: packages/{f['file']} is not in the index: {f['reason']}", soft_wrap=True, markup=False)
    for note in result.notes:
        err().print(f"note: {note}", soft_wrap=True, markup=False)
    out().print(f"index: {result.to_dict()['index_url']}  (pip install --index-url URL; serve {result.wheelhouse} over http for other machines)",
                  soft_wrap=True, markup=False)


def lock_report(result) -> None:
    """The file's text on stdout when no file was named (ready for a redirect); what was written and the notes on stderr."""
    if result.path:
        err().print(f"wrote {result.path} ({result.format}, {len(result.targets)} target(s))", soft_wrap=True, markup=False)
    else:
        sys.stdout.write(result.text)
    for note in result.notes:
        err().print(f"[yellow]note:[/] {escape(note)}", soft_wrap=True)


def catalog_page_report(result) -> None:
    """The page's address on stdout (open it in a browser); its size and what it holds on stderr."""
    sizes = ", ".join(f"{name} {size / 1024:.0f} KiB" for name, size in result.files.items())
    err().print(f"wrote {result.folder}: {result.combinations} combinations, {result.distinct_answers} distinct answers ({sizes}) "
                f"in {result.seconds:.0f} s", soft_wrap=True, markup=False)
    print(result.to_dict()["index"])
