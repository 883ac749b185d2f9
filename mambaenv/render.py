"""Human output: rich tables and one-line messages. JSON output is built by the commands."""
from __future__ import annotations

import contextlib
import json
import os
import sys
import time

from rich.console import Console
from rich.markup import escape
from rich.table import Table

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

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


def checks_table(checks) -> Table:
    t = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    t.add_column("check")
    t.add_column("status")
    t.add_column("detail", overflow="fold")
    for c in checks:
        # data from the env, servers and paths may hold [...]: escaped, so rich shows it instead of eating it as markup
        detail = escape(c.detail) + (f"\n  [cyan]fix:[/] {escape(c.fix)}" if c.fix and c.status != "pass" and c.fix != c.detail else "")
        t.add_row(escape(c.name), STATUS_STYLE.get(c.status, escape(c.status)), detail)
    return t


def choices_lines(choices, checks=()) -> list[str]:
    """The answer per package; with doctor's checks, a package whose missing wheel is information (installed and
    working, or a local build in the cache) gets that one line instead of the alternatives to it."""
    settled = {k.name.split(":", 1)[1]: k.detail for k in checks if k.name.startswith("wheel:") and k.status == "info"}
    lines = []
    for c in choices:
        if not c.wheel and c.package in settled:
            lines.append(f"[bold]{escape(c.package)}[/]: {escape(settled[c.package])}")
        elif c.wheel:
            lines.append(f"[bold]{escape(c.package)}[/] {escape(c.wheel.version)} ({escape(c.wheel.tag)}): {escape(c.wheel.url)}")
        else:
            lines.append(f"[bold]{escape(c.package)}[/]: [red]no prebuilt wheel[/]: {escape(c.reason or '')}")
            # An alternative that only restates the reason (a platform blocker) adds nothing: list the others.
            alternatives = [a for a in c.alternatives if a.command or a.summary != c.reason]
            for i, a in enumerate(alternatives, 1):
                lines.append(f"   {i}. {escape(a.summary)}" + (f"\n      [cyan]{escape(a.command)}[/]" if a.command else ""))
    return lines


def catalog_lines(rows: list[dict]) -> list[str]:
    """Releases under a header per package, then what "era" and "files" mean."""
    from mambaenv.upstream import CUDA_TAG_ERAS

    lines, package = [], None
    for r in rows:
        if r["package"] != package:
            package = r["package"]
            count = sum(1 for x in rows if x["package"] == package)
            lines += ([""] if lines else []) + [f"[bold]{package}[/] ({r['repo']}): {count} releases, newest first"]
        note = f"  ({r['no_wheels_reason']})" if r["no_wheels_reason"] else ""
        note += f"  (its files' version is served from {r['shadowed_by']})" if r.get("shadowed_by") else ""
        lines.append(f"  {r['tag']:<16} files {r['package_version']:<12} era {r['era']:<3} wheels {r['wheels']:>4} {r.get('source') or '':<9}{note}")
    lines += ["", "files: the __version__ in the tag's code, which names its wheels; a tag made without bumping it "
              "carries files of the previous version (mamba v2.3.2 ships 2.3.1 files)."]
    lines += ["source: listed = the tag's real asset list (with sha256); predicted = expanded from its workflow matrix; "
              "live = from catalog refresh."]
    lines += [f"era {era}: {meaning}" for era, meaning in CUDA_TAG_ERAS.items()]
    return lines


def smoke_table(result) -> Table:
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
    if err_console.is_terminal:
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

        with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn(),
                      console=err_console) as bar:
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
        self._status = err_console.status("working") if err_console.is_terminal else None
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
