"""Human output: rich tables and one-line messages. JSON output is built by the commands."""
from __future__ import annotations

import json
import sys

from rich.console import Console
from rich.table import Table

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

STATUS_STYLE = {"pass": "[green]pass[/]", "warn": "[yellow]warn[/]", "fail": "[red]FAIL[/]", "skip": "[dim]skip[/]"}


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
