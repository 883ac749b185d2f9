"""Human output: rich tables and one-line messages. JSON output is built by the commands."""
from __future__ import annotations

import json
import sys

from rich.console import Console
from rich.table import Table

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

STATUS_STYLE = {"pass": "[green]pass[/]", "warn": "[yellow]warn[/]", "fail": "[red]FAIL[/]", "skip": "[dim]skip[/]", "info": "[blue]info[/]"}


def print_json(data) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False) + "\n")


def checks_table(checks) -> Table:
    t = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    t.add_column("check")
    t.add_column("status")
    t.add_column("detail", overflow="fold")
    for c in checks:
        detail = c.detail + (f"\n  [cyan]fix:[/] {c.fix}" if c.fix and c.status != "pass" and c.fix != c.detail else "")
        t.add_row(c.name, STATUS_STYLE.get(c.status, c.status), detail)
    return t


def choices_lines(choices) -> list[str]:
    lines = []
    for c in choices:
        if c.wheel:
            lines.append(f"[bold]{c.package}[/] {c.wheel.version} ({c.wheel.tag}): {c.wheel.url}")
        else:
            lines.append(f"[bold]{c.package}[/]: [red]no prebuilt wheel[/]: {c.reason}")
            for i, a in enumerate(c.alternatives, 1):
                lines.append(f"   {i}. {a.summary}" + (f"\n      [cyan]{a.command}[/]" if a.command else ""))
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
        t.add_row(s["name"], STATUS_STYLE.get(s["status"], s["status"]), secs, "; ".join(bits))
    return t
