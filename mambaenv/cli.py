"""The typer app: parse, call, render. Logic lives in the modules it calls."""
from __future__ import annotations

import sys
from typing import List, Optional

import typer

from mambaenv import __version__
from mambaenv.errors import MambaenvError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Get mamba_ssm and causal_conv1d working on this GPU machine.")
catalog_app = typer.Typer(no_args_is_help=True, help="The upstream release catalog.")
app.add_typer(catalog_app, name="catalog")

PythonOpt = typer.Option(None, "--python", help="Target interpreter path (default: the active env, else python on PATH).")
EnvOpt = typer.Option(None, "--env", help="Target conda env name, env prefix or venv directory.")
JsonOpt = typer.Option(False, "--json", help="Machine-readable output with a stable shape.")


def fail(e: MambaenvError, as_json: bool = False) -> None:
    from mambaenv.render import err_console, print_json

    if as_json:
        print_json({"error": e.message, "fix": e.fix})
    err_console.print(f"[red]error:[/] {e.one_line()}", soft_wrap=True)
    raise typer.Exit(e.exit_code)


@app.callback(invoke_without_command=True)
def _root(version: bool = typer.Option(False, "--version", help="Print the version and exit.")) -> None:
    if version:
        typer.echo(f"mambaenv {__version__}")
        raise typer.Exit(0)


@app.command()
def doctor(
    python: Optional[str] = PythonOpt,
    env: Optional[str] = EnvOpt,
    as_json: bool = JsonOpt,
    deep: bool = typer.Option(False, "--deep", help="Also import torch in the target env to confirm its facts."),
    offline: bool = typer.Option(False, "--offline", help="Use only the shipped catalog."),
) -> None:
    """What this machine and env have, which prebuilt wheels fit, and what to do when none does."""
    from mambaenv import commands

    try:
        result = commands.doctor(python, env, deep=deep, offline=offline, with_docker=True)
    except MambaenvError as e:
        fail(e, as_json)
    from mambaenv.render import checks_table, choices_lines, console, print_json

    if as_json:
        print_json(result["json"])
    else:
        console.print(f"[bold]mambaenv doctor[/] — target {result['json']['pyenv']['python_path']}")
        console.print(checks_table(result["checks"]))
        console.print()
        for line in choices_lines(result["choices"]):
            console.print(line, soft_wrap=True)
        console.print()
        console.print("[green]A working path exists.[/]" if result["ok"] else "[red]No working path yet: see the fixes above.[/]")
    raise typer.Exit(0 if result["ok"] else 1)


@app.command()
def resolve(
    package: str = typer.Option("all", "--package", help="mamba_ssm, causal_conv1d or all."),
    package_version: Optional[str] = typer.Option(None, "--package-version", help="A release version or tag; default the newest that fits."),
    python: Optional[str] = typer.Option(None, "--python", help="A Python version (3.10) with explicit facts, or an interpreter path to probe."),
    env: Optional[str] = EnvOpt,
    torch: Optional[str] = typer.Option(None, "--torch", help="Torch version, e.g. 2.1.2+cu121 (explicit facts: resolve for another machine)."),
    torch_cuda: Optional[str] = typer.Option(None, "--torch-cuda", help="torch.version.cuda, e.g. 12.1, or none."),
    cxx11abi: Optional[str] = typer.Option(None, "--cxx11abi", help="true or false: torch._C._GLIBCXX_USE_CXX11_ABI."),
    machine: str = typer.Option("x86_64", "--machine", help="x86_64 or aarch64."),
    ngc: Optional[str] = typer.Option(None, "--ngc", help="NGC PyTorch container version, e.g. 25.09."),
    offline: bool = typer.Option(False, "--offline", help="Use only the shipped catalog."),
    as_json: bool = JsonOpt,
) -> None:
    """Print the wheel URL(s) for an env: one per line, ready for a browser, or --json."""
    from mambaenv import commands

    try:
        choices = commands.resolve(package, package_version, python, env, torch, torch_cuda, cxx11abi, machine, ngc, offline)
    except MambaenvError as e:
        fail(e, as_json)
    from mambaenv.render import choices_lines, console, err_console, print_json

    if as_json:
        print_json({"packages": [c.to_dict() for c in choices]})
    else:
        for c in choices:
            if c.wheel:
                print(c.wheel.url)
        missing = [c for c in choices if not c.wheel]
        if missing:
            for line in choices_lines(missing):
                err_console.print(line, soft_wrap=True)
    raise typer.Exit(0 if all(c.wheel for c in choices) else 1)


@catalog_app.command("refresh")
def catalog_refresh(
    api: Optional[str] = typer.Option(None, "--api", help="GitHub API base URL (default https://api.github.com or MAMBAENV_GITHUB_API)."),
    as_json: bool = JsonOpt,
) -> None:
    """Fetch the live release asset lists (sizes, sha256) into the cache; they override the shipped data."""
    from mambaenv import commands

    try:
        counts = commands.catalog_refresh(api)
    except MambaenvError as e:
        fail(e, as_json)
    from mambaenv.render import console, print_json

    if as_json:
        print_json({"releases": counts})
    else:
        for pkg, n in counts.items():
            console.print(f"{pkg}: {n} releases")


@catalog_app.command("list")
def catalog_list(
    package: str = typer.Option("mamba_ssm", "--package"),
    offline: bool = typer.Option(False, "--offline"),
    as_json: bool = JsonOpt,
) -> None:
    """Every release, its era, and how many wheels it carries."""
    from mambaenv import commands

    try:
        rows = commands.catalog_list(package, offline)
    except MambaenvError as e:
        fail(e, as_json)
    from mambaenv.render import console, print_json

    if as_json:
        print_json({"releases": rows})
    else:
        for r in rows:
            note = f"  ({r['no_wheels_reason']})" if r["no_wheels_reason"] else ""
            console.print(f"{r['tag']:<16} files {r['package_version']:<12} era {r['era']:<3} wheels {r['wheels']:>4}{note}")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
