"""The typer app: parse, call, render. Logic lives in the modules it calls."""
from __future__ import annotations

import sys
from typing import List, Optional

import typer
import typer.core

from mambaenv import __version__
from mambaenv.errors import ExitCode, MambaenvError, exit_code_table

# typer 0.29 labels every flag "<bool>" although a flag takes no value; show nothing, as click and pip do.
# (Older typers have no such hook and print no such label: nothing to change there.)
_display_type_rich = getattr(typer.core.TyperOption, "display_type_rich", None)
if _display_type_rich is not None:
    typer.core.TyperOption.display_type_rich = lambda self, ctx: None if self.is_flag else _display_type_rich(self, ctx)

app = typer.Typer(add_completion=True, no_args_is_help=True, help="Get mamba_ssm and causal_conv1d working on this GPU machine.",
                  epilog="Exit codes:\n\n" + exit_code_table())
catalog_app = typer.Typer(no_args_is_help=True, help="The upstream release catalog.")
app.add_typer(catalog_app, name="catalog")
docker_app = typer.Typer(no_args_is_help=True, help="Build and run a GPU image with the wheels; move it by file (save/load) or through a registry (push/pull).")
app.add_typer(docker_app, name="docker")
DEFAULT_TAG = "mambaenv-mamba:latest"

PythonOpt = typer.Option(None, "--python", help="A Python version (3.11: that interpreter on PATH) or an interpreter path; "
                         "default: the active env, else python on PATH.")
EnvOpt = typer.Option(None, "--env", help="Target conda env name, env prefix or venv directory.")
JsonOpt = typer.Option(False, "--json", help="Machine-readable output with a stable shape.")
# Explicit facts: the same flags on resolve, download and bundle, so a target machine's facts travel as flags.
FactsPythonOpt = typer.Option(None, "--python", help="A Python version (3.10: explicit facts with --torch) or an interpreter path to probe.")
TorchOpt = typer.Option(None, "--torch", help="Torch version, e.g. 2.1.2+cu121 (explicit facts: resolve for another machine).")
TorchCudaOpt = typer.Option(None, "--torch-cuda", help="torch.version.cuda, e.g. 12.1, or none.")
Cxx11AbiOpt = typer.Option(None, "--cxx11abi", help="true or false: torch._C._GLIBCXX_USE_CXX11_ABI.")
MachineOpt = typer.Option("x86_64", "--machine", help="x86_64 or aarch64.")
NgcOpt = typer.Option(None, "--ngc", help="NGC PyTorch container version, e.g. 25.09.")
MirrorOpt = typer.Option([], "--mirror", help="URL prefix tried before the original (repeatable).")
IndexUrlOpt = typer.Option(None, "--index-url", help="Package index for the dependency wheels (default: pip's).")
WheelhouseOpt = typer.Option([], "--wheelhouse", help="A wheelhouse (folder, file:// or PEP 503 index URL) asked before the catalog (repeatable).")


def fail(e: MambaenvError, as_json: bool = False) -> None:
    from mambaenv.render import err_console, print_json

    if as_json:
        print_json({"error": e.message, "fix": e.fix})
    from rich.markup import escape

    err_console.print(f"[red]error:[/] {escape(e.one_line())}", soft_wrap=True)  # a message may hold [...] from a server or a path
    raise typer.Exit(e.exit_code)


def guarded(call, as_json: bool = False):
    """Run ``call``; a MambaenvError becomes one line on stderr and its exit code."""
    try:
        return call()
    except MambaenvError as e:
        fail(e, as_json)


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
    wheelhouse: List[str] = WheelhouseOpt,
) -> None:
    """What this machine and env have, which prebuilt wheels fit, and what to do when none does."""
    from mambaenv import commands

    result = guarded(lambda: commands.doctor(python, env, deep=deep, offline=offline, with_docker=True, wheelhouses=wheelhouse), as_json)
    from mambaenv.render import checks_table, choices_lines, console, print_json

    if as_json:
        print_json(result["json"])
    else:
        console.print(f"[bold]mambaenv doctor[/] — target {result['json']['pyenv']['python_path']}")
        console.print(checks_table(result["checks"]))
        console.print()
        for line in choices_lines(result["choices"], result["checks"]):
            console.print(line, soft_wrap=True)
        console.print()
        console.print("[green]A working path exists.[/]" if result["ok"] else "[red]No working path yet: see the fixes above.[/]")
    raise typer.Exit(ExitCode.OK if result["ok"] else ExitCode.NO_WORKING_PATH)


@app.command()
def resolve(
    package: str = typer.Option("all", "--package", help="mamba_ssm, causal_conv1d or all."),
    package_version: Optional[str] = typer.Option(None, "--package-version", help="A release version or tag; default the newest that fits."),
    python: Optional[str] = FactsPythonOpt,
    env: Optional[str] = EnvOpt,
    torch: Optional[str] = TorchOpt,
    torch_cuda: Optional[str] = TorchCudaOpt,
    cxx11abi: Optional[str] = Cxx11AbiOpt,
    machine: str = MachineOpt,
    ngc: Optional[str] = NgcOpt,
    offline: bool = typer.Option(False, "--offline", help="Use only the shipped catalog."),
    wheelhouse: List[str] = WheelhouseOpt,
    gpu_arch: Optional[str] = typer.Option(None, "--gpu-arch", help="GPU compute capabilities to check (12.0,8.6 or sm_120), or native."),
    as_json: bool = JsonOpt,
) -> None:
    """Print the wheel URL(s) for an env: one per line, ready for a browser, or --json."""
    from mambaenv import commands

    fresh: list = []
    choices = guarded(lambda: commands.resolve(package, package_version, python, env, torch, torch_cuda, cxx11abi, machine, ngc,
                                               offline, wheelhouse, gpu_arch, freshness=fresh), as_json)
    from mambaenv.render import choices_lines, err_console, print_json

    if as_json:
        print_json({"packages": [c.to_dict() for c in choices], "catalog": [f.to_dict() for f in fresh]})
    else:
        for f in fresh:
            if f.message:
                err_console.print(f"[yellow]note:[/] {f.message}", soft_wrap=True)
        for c in choices:
            if c.wheel:
                print(c.wheel.url)
        for problem in sorted({e for c in choices for e in getattr(getattr(c, "pick", None), "errors", [])}):
            err_console.print(f"[yellow]warning:[/] {problem}", soft_wrap=True)
        missing = [c for c in choices if not c.wheel]
        if missing:
            for line in choices_lines(missing):
                err_console.print(line, soft_wrap=True)
    raise typer.Exit(ExitCode.OK if all(c.wheel for c in choices) else ExitCode.NO_WORKING_PATH)


@catalog_app.command("refresh")
def catalog_refresh(
    api: Optional[str] = typer.Option(None, "--api", help="GitHub API base URL (default https://api.github.com or MAMBAENV_GITHUB_API)."),
    as_json: bool = JsonOpt,
) -> None:
    """Fetch the live release asset lists (sizes, sha256) into the cache; they override the shipped data."""
    from mambaenv import commands

    counts = guarded(lambda: commands.catalog_refresh(api), as_json)
    from mambaenv.render import console, print_json

    if as_json:
        print_json({"releases": counts})
    else:
        for pkg, n in counts.items():
            console.print(f"{pkg}: {n} releases")


@catalog_app.command("list")
def catalog_list(
    package: str = typer.Option("all", "--package", help="mamba_ssm, causal_conv1d or all."),
    offline: bool = typer.Option(False, "--offline", help="Use only the shipped catalog, not the one catalog refresh saved."),
    as_json: bool = JsonOpt,
) -> None:
    """Every release, the version its files carry, its era (how its file names spell CUDA), and its wheel count."""
    from mambaenv import commands

    rows = guarded(lambda: commands.catalog_list(package, offline), as_json)
    from mambaenv.render import catalog_lines, console, print_json

    if as_json:
        print_json({"releases": rows})
    else:
        for line in catalog_lines(rows):
            console.print(line, soft_wrap=True)


@catalog_app.command("wheels")
def catalog_wheels(
    package: str = typer.Option(..., "--package", help="mamba_ssm or causal_conv1d."),
    tag: Optional[str] = typer.Option(None, "--tag", help="One release tag (default: every release)."),
    offline: bool = typer.Option(False, "--offline", help="Use only the shipped catalog."),
    as_json: bool = JsonOpt,
) -> None:
    """Every wheel file the catalog names, with sha256, source (listed/predicted/live), CUDA toolkit and GPU archs."""
    from mambaenv import commands

    rows = guarded(lambda: commands.catalog_wheels(package, tag, offline), as_json)
    from mambaenv.render import console, print_json

    if as_json:
        print_json({"wheels": rows})
    else:
        for w in rows:
            archs = ",".join(str(a) for a in w["archs"]) if w["archs"] is not None else "?"
            console.print(f"{w['tag']:<14} {w['source']:<9} {w['file']}  sm {archs}  {(w['sha256'] or '-')[:12]}", soft_wrap=True)


@app.command("inspect")
def inspect_cmd(wheel: str = typer.Argument(..., help="A .whl file."), as_json: bool = JsonOpt) -> None:
    """What a wheel was built for: Python tag, torch, CUDA, ABI, glibc needs and the GPU archs in its libraries."""
    from pathlib import Path

    from mambaenv.wheel import inspect_wheel

    info = guarded(lambda: inspect_wheel(Path(wheel)), as_json)
    from mambaenv.render import console, print_json

    d = info.to_dict()
    if as_json:
        print_json(d)
        return
    archs = ", ".join(f"sm_{a}" for a in d["archs"]) if d["archs"] else "none found"
    torch = (f"NGC container {d['torch']}" if d["ngc"] else f"torch {d['torch']}") if d["torch"] else "torch not named"
    console.print(f"[bold]{d['file']}[/]", soft_wrap=True)
    console.print(f"  {d['package']} {d['version']}  python {d['python']}  {d['machine'] or 'any machine'}")
    abi = {True: "TRUE", False: "FALSE", None: "-"}[d["cxx11_abi"]]
    console.print(f"  {torch}  CUDA {d['cuda'] or '-'}  cxx11abi{abi}")
    console.print(f"  needs GLIBC {d['glibc_needed'] or '-'}  GLIBCXX {d['glibcxx_needed'] or '-'}")
    console.print(f"  GPU code (SASS): {archs}")
    ptx = sorted({a for lib in d["libraries"] for a in lib["ptx"]})
    if ptx:
        console.print("  PTX (JIT-compiled on newer GPUs): " + ", ".join(f"compute_{a}" for a in ptx))
    for lib in d["libraries"]:
        note = f"  ({lib['note']})" if lib["note"] else ""
        console.print(f"    {lib['name']}: " + (", ".join(f"sm_{a}" for a in lib["archs"]) or "no GPU code") + note, soft_wrap=True)


@app.command()
def download(
    package: str = typer.Option("all", "--package", help="mamba_ssm, causal_conv1d or all (resolved for the target env)."),
    url: Optional[str] = typer.Option(None, "--url", help="Fetch this wheel URL instead of resolving."),
    dest: str = typer.Option(".", "--dest", help="Folder to place the file(s) in."),
    sha256: Optional[str] = typer.Option(None, "--sha256", help="Expected sha256 of the file."),
    mirror: List[str] = MirrorOpt,
    segments: Optional[int] = typer.Option(None, "--segments", help="Parallel connections (default: from the measured rate, up to 16)."),
    python: Optional[str] = FactsPythonOpt,
    env: Optional[str] = EnvOpt,
    torch: Optional[str] = TorchOpt,
    torch_cuda: Optional[str] = TorchCudaOpt,
    cxx11abi: Optional[str] = Cxx11AbiOpt,
    machine: str = MachineOpt,
    ngc: Optional[str] = NgcOpt,
    offline_catalog: bool = typer.Option(False, "--offline-catalog", help="Resolve with the shipped catalog only."),
    wheelhouse: List[str] = WheelhouseOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Download wheel(s): resumable, parallel, verified, cached. The same facts as resolve pick the files."""
    from mambaenv import commands

    try:
        results = guarded(lambda: commands.download_cmd(package, url, dest, sha256, mirror, segments, python, env, torch, torch_cuda,
                                                        cxx11abi, machine, ngc, offline_catalog, show_progress=not as_json,
                                                        wheelhouses=wheelhouse), as_json)
    except KeyboardInterrupt:  # the downloader saved its progress on the way out
        sys.stderr.write("interrupted; the progress is saved: run the same command again to resume\n")
        raise typer.Exit(130) from None
    from mambaenv.render import console, print_json

    if as_json:
        print_json({"files": results})
    else:
        for r in results:
            where = f"  (from wheelhouse {r['wheelhouse']})" if r.get("wheelhouse") else ""
            console.print(f"{r['file']}  sha256 {r['sha256'][:16]}…{'  (cached)' if r['from_cache'] else ''}{where}", markup=False)


@app.command()
def bundle(
    output: str = typer.Option(..., "-o", "--output", help="The bundle file to write (a tar archive)."),
    python: Optional[str] = FactsPythonOpt,
    env: Optional[str] = EnvOpt,
    torch: Optional[str] = TorchOpt,
    torch_cuda: Optional[str] = TorchCudaOpt,
    cxx11abi: Optional[str] = Cxx11AbiOpt,
    machine: str = MachineOpt,
    ngc: Optional[str] = NgcOpt,
    from_doctor: Optional[str] = typer.Option(None, "--from", help="A doctor --json file from the target server."),
    wheel: List[str] = typer.Option([], "--wheel", help="Use these local wheels instead of downloading the resolved ones."),
    mirror: List[str] = MirrorOpt,
    index_url: Optional[str] = typer.Option(None, "--index-url", help="Package index for the dependency wheels ('none': --find-links only)."),
    find_links: List[str] = typer.Option([], "--find-links", help="Extra local folders of dependency wheels."),
    offline_catalog: bool = typer.Option(False, "--offline-catalog", help="Resolve with the shipped catalog only."),
    wheelhouse: List[str] = WheelhouseOpt,
    as_json: bool = JsonOpt,
) -> None:
    """On a connected machine: both wheels, their dependencies and a manifest, in one file for a server."""
    from mambaenv import commands

    result = guarded(lambda: commands.bundle_cmd(output, python, env, torch, torch_cuda, cxx11abi, machine, ngc, from_doctor, wheel, mirror,
                                                 index_url, find_links, offline_catalog, show_progress=not as_json,
                                                 wheelhouses=wheelhouse), as_json)
    from mambaenv.render import console, print_json

    if as_json:
        print_json(result)
    else:
        console.print(f"wrote {result['bundle']}: {len(result['files'])} files, {result['bytes'] / 1e6:.1f} MB, for {result['env']}")
        console.print("on the server, next to the bundle:")
        for line in result["next"]:
            console.print(f"  {line}", markup=False, soft_wrap=True)


@app.command()
def install(
    offline_wheel: Optional[str] = typer.Option(None, "--offline-wheel", help="A .whl, a folder of wheels, or a bundle: no network at all."),
    new_env: Optional[str] = typer.Option(None, "--new-env", help="Create this env (a conda name, or a path for a venv) and install there."),
    env: Optional[str] = EnvOpt,
    python: Optional[str] = typer.Option(None, "--python", help="A Python version or an interpreter path: the target env's "
                                         "interpreter, or with --new-env the new env's Python (3.11; a path bases a venv on it)."),
    python_version: Optional[str] = typer.Option(None, "--python-version", hidden=True, help="Old spelling of --python VERSION with --new-env."),
    torch: Optional[str] = typer.Option(None, "--torch", help="torch version to put in --new-env before the wheels."),
    torch_cuda: Optional[str] = typer.Option(None, "--torch-cuda", help="CUDA of that torch, e.g. 12.8, or none (CPU-only); "
                                             "a conda env needs it (or a --torch-index ending in /cuXYZ)."),
    torch_index: Optional[str] = typer.Option(None, "--torch-index", help="Index URL for torch in --new-env (default: PyTorch's index for --torch-cuda)."),
    conda_forge: bool = typer.Option(False, "--conda-forge", help="With conda: torch from conda-forge's conda packages instead of PyTorch's pip wheels."),
    find_links: List[str] = typer.Option([], "--find-links", help="Folders of dependency wheels."),
    index_url: Optional[str] = IndexUrlOpt,
    no_index: bool = typer.Option(False, "--no-index", help="Dependencies only from --find-links, never from an index."),
    venv_only: bool = typer.Option(False, "--venv", help="With --new-env: make a venv even when conda is present."),
    force: bool = typer.Option(False, "--force", help="Install even when a wheel does not match the env (torch stays pinned)."),
    no_deps: bool = typer.Option(False, "--no-deps", help="Install only the wheels; the env already has their dependencies."),
    mirror: List[str] = MirrorOpt,
    wheelhouse: List[str] = WheelhouseOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Install the wheels into a fresh or existing env, checked first, torch pinned."""
    from mambaenv import commands

    try:
        result = commands.install_cmd(offline_wheel, new_env, env, python, python_version, torch, torch_index, find_links,
                                      index_url, venv_only, force, mirror, as_json, no_deps, no_index, torch_cuda, conda_forge,
                                      wheelhouses=wheelhouse)
    except MambaenvError as e:
        fail(e, as_json)
    from mambaenv.render import console, err_console, print_json

    if as_json:
        print_json(result.to_dict())
    else:
        console.print(f"[green]installed[/] {', '.join(result.wheels)} into {result.prefix} (torch {result.torch} kept)")
        for src in getattr(result, "sources", []):
            if src.get("wheelhouse"):
                console.print(f"  {src['package']} from wheelhouse {src['wheelhouse']}", soft_wrap=True)
            for problem in src.get("wheelhouse_errors") or []:
                err_console.print(f"[yellow]warning:[/] {problem}", soft_wrap=True)
        if result.created:
            console.print(f"activate it with: {result.activate}")


@app.command()
def smoke(
    python: Optional[str] = PythonOpt,
    env: Optional[str] = EnvOpt,
    bench: bool = typer.Option(False, "--bench", help="Add larger shapes and the achieved memory bandwidth."),
    full_autotune: bool = typer.Option(False, "--full-autotune", help="Let Triton try every autotune config (slow when cold)."),
    as_json: bool = JsonOpt,
) -> None:
    """Run the Mamba kernels on the GPU in the target env; explain any failure. Exit 8: no CUDA device."""
    from mambaenv import commands

    try:
        _, result = commands.smoke(python, env, bench, quiet=as_json, full_autotune=full_autotune)
    except MambaenvError as e:
        fail(e, as_json)
    from mambaenv.render import console, print_json, smoke_table

    if as_json:
        print_json(result)
    else:
        console.print(smoke_table(result))
        for s in result["steps"]:
            if s["status"] == "fail":
                d = s.get("diagnosis")
                console.print(f"[red]{s['name']}[/]: {s.get('error', '')}", soft_wrap=True)
                if d:
                    console.print(f"  [bold]why:[/] {d['summary']}\n  [cyan]fix:[/] {d['fix']}", soft_wrap=True)
        verdict = {"passed": "[green]the Mamba kernels run on this GPU[/]", "no_cuda_device": "[yellow]no CUDA device here[/]: "
                   "the install cannot be proven on this machine", "failed": "[red]smoke test failed[/]"}[result["result"]]
        console.print(f"{verdict} ({result['total_seconds']:.1f} s)")
    # The smoke script (stdlib only, in the target env) has its own numbers; the verdict picks from the one table.
    raise typer.Exit({"passed": ExitCode.OK, "no_cuda_device": ExitCode.NO_CUDA_DEVICE}.get(result["result"], ExitCode.NO_WORKING_PATH))


@app.command()
def explain(
    text: Optional[str] = typer.Argument(None, help="The error text (or pipe a log in: cmd 2>&1 | mambaenv explain)."),
    file: Optional[str] = typer.Option(None, "--file", help="A log file to read instead; - reads standard input."),
    python: Optional[str] = typer.Option(None, "--python", help="The env the error came from: its facts make the fix concrete."),
    env: Optional[str] = EnvOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Explain an install or import error in plain words, with the fix; reads a whole pip log too."""
    from mambaenv import commands
    from mambaenv.render import console, print_json

    result = guarded(lambda: commands.explain_cmd(text, file, python, env, sys.stdin), as_json)
    d = result.diagnosis
    if as_json:
        print_json({"diagnosis": d.to_dict() if d else None, "others": [o.to_dict() for o in result.others]})
    elif d:
        console.print(f"[bold]{d.cause}[/]: {d.summary}\n[cyan]fix:[/] {d.fix}\n[dim]from: {d.evidence}\n"
                      f"confidence {d.confidence:.2f}[/]", soft_wrap=True)
        if result.others:
            console.print("[dim]also possible: " + "; ".join(f"{o.cause} ({o.confidence:.2f})" for o in result.others) + "[/]",
                          soft_wrap=True)
    else:
        console.print("no known cause matches this text; run mambaenv doctor for the environment's facts")
    raise typer.Exit(ExitCode.OK if d else ExitCode.NO_WORKING_PATH)


@app.command()
def build(
    package: str = typer.Option("all", "--package", help="mamba_ssm, causal_conv1d or all (built in parallel)."),
    sdist: List[str] = typer.Option([], "--sdist", help="Local sdist file(s) (offline); default: from the package index."),
    arch: str = typer.Option("native", "--arch", help="native (this GPU), a list like 9.0,8.6, or upstream (every architecture)."),
    jobs: Optional[int] = typer.Option(None, "--jobs", help="MAX_JOBS for each build (default from cores and free memory)."),
    python: Optional[str] = PythonOpt,
    env: Optional[str] = EnvOpt,
    version: Optional[str] = typer.Option(None, "--package-version", help="Version to fetch from the index."),
    index_url: Optional[str] = typer.Option(None, "--index-url", help="Package index for the sdists (default: pip's)."),
    dest: Optional[str] = typer.Option(None, "--dest", help="Folder for the wheels (default: the mambaenv cache)."),
    no_split: bool = typer.Option(False, "--no-split", help="Compile each CUDA file whole (slower; upstream's layout)."),
    as_json: bool = JsonOpt,
) -> None:
    """Build wheels from the sdist for this GPU's architecture only (minutes, not hours); a build with the same inputs comes from the cache."""
    from mambaenv import commands

    results = guarded(lambda: commands.build_cmd(package, sdist, arch, jobs, python, env, version, index_url, dest, quiet=as_json,
                                                 split=not no_split), as_json)
    from mambaenv.render import console, print_json

    if as_json:
        print_json({"builds": results})
    else:
        for r in results:
            if "error" in r:
                console.print(f"[red]{r['package']}[/]: {r['error']}", soft_wrap=True)
            elif r.get("cached"):
                console.print(f"[green]{r['package']}[/]: {r['wheel']} (a local build for this env is in the cache; {r['size'] / 1e6:.1f} MB, "
                              f"arch {r['archs']})", soft_wrap=True)
            else:
                console.print(f"[green]{r['package']}[/]: {r['wheel']} ({r['size'] / 1e6:.1f} MB, {r['seconds']:.0f} s, arch {r['archs']})")
                if r.get("split"):
                    console.print(f"  split: {r['split']}", soft_wrap=True)
    raise typer.Exit(ExitCode.BUILD_FAILED if any("error" in r for r in results) else ExitCode.OK)


@docker_app.command("build")
def docker_build(
    base_image: Optional[str] = typer.Option(None, "--base-image", help="Base image with torch (default: an official PyTorch image for the target env)."),
    wheel: List[str] = typer.Option([], "--wheel", help="Wheel files to copy in (mamba_ssm, causal_conv1d and any dependency wheels)."),
    bundle: Optional[str] = typer.Option(None, "--bundle", help="A file made by mambaenv bundle."),
    tag: str = typer.Option(DEFAULT_TAG, "--tag", "-t", help="Name:tag for the image."),
    requirements: Optional[str] = typer.Option(None, "--requirements", help="Project requirements (their wheels must be among --wheel)."),
    network: str = typer.Option("none", "--network", help="Build network; none when everything is local (the default)."),
    python: Optional[str] = PythonOpt,
    env: Optional[str] = EnvOpt,
    force: bool = typer.Option(False, "--force", help="Build even when a wheel does not match the base image."),
    wheelhouse: List[str] = WheelhouseOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Build an image: the wheels are fetched (or built) on the host and copied in; the build needs no network."""
    from mambaenv import commands

    result = guarded(lambda: commands.docker_build(base_image, wheel, bundle, tag, requirements, network, python, env, force, as_json,
                                                   wheelhouse), as_json)
    from mambaenv.render import console, print_json

    if as_json:
        print_json(result)
    else:
        console.print(f"[green]built[/] {result['image']} from {result['base']} (Python {result['python']}, torch {result['torch']})")
        console.print(f"run it: mambaenv docker run ./project --image {result['image']}")


@docker_app.command("run")
def docker_run(
    project: str = typer.Argument(..., help="The project folder, mounted at /workspace."),
    command: Optional[List[str]] = typer.Argument(None, help="Command to run (after --); default an interactive shell."),
    image: str = typer.Option(DEFAULT_TAG, "--image", help="The image to run (made by mambaenv docker build)."),
    gpus: str = typer.Option("all", "--gpus", help="all, none, a count, or device ids like 0,1."),
    read_only: bool = typer.Option(False, "--read-only", help="Mount the project read-only."),
    detach: bool = typer.Option(False, "--detach", "-d", help="Run in the background and keep the container (a foreground run "
                                "removes it when it ends); see it with mambaenv docker ps, save it with mambaenv docker commit."),
    network: Optional[str] = typer.Option(None, "--network", help="Container network (e.g. none)."),
    shm_size: str = typer.Option("8g", "--shm-size", help="Shared memory for PyTorch data loaders."),
    name: Optional[str] = typer.Option(None, "--name", help="Container name (default: one made from the project folder)."),
    user: Optional[str] = typer.Option(None, "--user", help="UID:GID inside (default: yours, so files you make are yours)."),
    as_json: bool = JsonOpt,
) -> None:
    """Run PROJECT in the image with the GPU on, as your own uid:gid, labelled as mambaenv's."""
    from mambaenv import commands

    result = guarded(lambda: commands.docker_run(project, command or [], image, gpus, read_only, detach, network, shm_size, name, user, as_json), as_json)
    from mambaenv.render import console, print_json

    if as_json:
        print_json(result)
    elif result.get("detached"):
        console.print(f"started {result['name']} ({result['container']}); mambaenv docker ps / attach / stop / rm")
    raise typer.Exit(result.get("exit_code", 0))


@docker_app.command("ps")
def docker_ps(as_json: bool = JsonOpt) -> None:
    """mambaenv's containers, running or not."""
    from mambaenv import docker as d
    from mambaenv.render import console, print_json

    rows = guarded(lambda: d.list_containers(), as_json)
    if as_json:
        print_json({"containers": rows})
    else:
        if not rows:
            console.print("no mambaenv containers (start one with mambaenv docker run ./project)")
        for r in rows:
            console.print(f"{r['id']}  {r['name']:<24} {r['status']:<10} {r['image']:<28} {r['project']}")


@docker_app.command("attach")
def docker_attach(container: str = typer.Argument(..., help="Container name or id (see mambaenv docker ps).")) -> None:
    """Attach your terminal to a running mambaenv container."""
    from mambaenv import docker as d

    try:
        d.attach_cli(container)
    except MambaenvError as e:
        fail(e)


@docker_app.command("stop")
def docker_stop(container: str = typer.Argument(..., help="Container name or id."), as_json: bool = JsonOpt) -> None:
    """Stop a mambaenv container."""
    from mambaenv import docker as d
    from mambaenv.render import print_json

    guarded(lambda: d.stop(container), as_json)
    if as_json:
        print_json({"stopped": container})


@docker_app.command("rm")
def docker_rm(container: str = typer.Argument(..., help="Container name or id."),
              force: bool = typer.Option(False, "--force", "-f", help="Remove it even while it runs."), as_json: bool = JsonOpt) -> None:
    """Remove a mambaenv container."""
    from mambaenv import docker as d
    from mambaenv.render import print_json

    guarded(lambda: d.remove(container, force), as_json)
    if as_json:
        print_json({"removed": container})


@docker_app.command("commit")
def docker_commit(container: str = typer.Argument(..., help="Container name or id."),
                  tag: str = typer.Argument(..., help="Name:tag for the new image."), as_json: bool = JsonOpt) -> None:
    """Save a container's state as an image (then: mambaenv docker run ./project --image TAG)."""
    from mambaenv import docker as d
    from mambaenv.render import console, print_json

    image_id = guarded(lambda: d.commit(container, tag), as_json)
    if as_json:
        print_json({"image": tag, "id": image_id})
    else:
        console.print(f"saved {container} as {tag}")


@docker_app.command("save")
def docker_save(tag: str = typer.Argument(..., help="The image to save."),
                output: str = typer.Option(..., "-o", "--output", help="FILE or FILE.gz"), as_json: bool = JsonOpt) -> None:
    """Write an image to a file, for a server that cannot pull."""
    from pathlib import Path

    from mambaenv import docker as d
    from mambaenv.render import console, print_json

    try:
        if as_json:
            n = d.save(tag, Path(output))
        else:
            from mambaenv.render import progress

            with progress(f"saving {tag}") as cb:
                n = d.save(tag, Path(output), cb)
    except MambaenvError as e:
        fail(e, as_json)
    if as_json:
        print_json({"image": tag, "file": output, "bytes": n})
    else:
        console.print(f"wrote {output}; on the server: mambaenv docker load {Path(output).name}")


@docker_app.command("load")
def docker_load(file: str = typer.Argument(..., help="An image file made by mambaenv docker save."), as_json: bool = JsonOpt) -> None:
    """Load an image file made by docker save (gzip or plain)."""
    from pathlib import Path

    from mambaenv import docker as d
    from mambaenv.render import console, err_console, print_json

    try:
        if as_json:
            tags = d.load(Path(file))
        else:
            with err_console.status(f"loading {file}"):
                tags = d.load(Path(file))
    except MambaenvError as e:
        fail(e, as_json)
    if as_json:
        print_json({"images": tags})
    else:
        console.print("loaded " + ", ".join(tags))


@app.command()
def publish(
    sources: List[str] = typer.Argument(..., help="Wheel files, folders of wheels, or bundles made by mambaenv bundle."),
    to: str = typer.Option(..., "--to", help="The wheelhouse folder: packages/ and a PEP 503 simple/ index are written there."),
    gpu_arch: Optional[str] = typer.Option(None, "--gpu-arch", help="Compute capabilities the wheels were built for (mambaenv build --arch), "
                                           "e.g. 9.0; nodes with another GPU then skip them."),
    as_json: bool = JsonOpt,
) -> None:
    """Add wheels to a wheelhouse that pip and uv read (--index-url DIR/simple or a web server on DIR); files are never replaced."""
    from pathlib import Path

    from mambaenv.publish import check_gpu_archs
    from mambaenv.publish import publish as do_publish
    from mambaenv.render import console, print_json

    result = guarded(lambda: do_publish([Path(s) for s in sources], Path(to), gpu_archs=check_gpu_archs(gpu_arch)), as_json)
    if as_json:
        print_json(result.to_dict())
    else:
        for f in result.added:
            console.print(f"[green]added[/] {f}")
        for f in result.unchanged:
            console.print(f"unchanged {f} (already published with the same sha256)")
        console.print(f"index: {result.to_dict()['index_url']}  (pip install --index-url URL; serve {result.wheelhouse} over http for other machines)",
                      soft_wrap=True)


@docker_app.command("push")
def docker_push(
    image: str = typer.Argument(..., help="A local image, e.g. mambaenv-mamba:latest."),
    registry: str = typer.Option(..., "--registry", help="HOST:PORT of the lab's registry."),
    as_json: bool = JsonOpt,
) -> None:
    """Push an image to a registry (tagged HOST:PORT/name:tag) so every node can pull it."""
    from mambaenv import docker as d
    from mambaenv.render import console, print_json

    if as_json:
        result = guarded(lambda: d.push(image, registry), as_json)
        print_json(result)
        return
    from mambaenv.render import progress

    try:
        with progress(f"pushing {image}") as cb:
            result = d.push(image, registry, cb)
    except MambaenvError as e:
        fail(e)
    console.print(f"pushed {result['pushed']} ({result['digest']}); on a node: mambaenv docker pull {result['pushed']}")


@docker_app.command("pull")
def docker_pull(ref: str = typer.Argument(..., help="HOST:PORT/name:tag, as docker push printed it."), as_json: bool = JsonOpt) -> None:
    """Pull an image from a registry (with progress); without a registry use save/load."""
    from mambaenv import docker as d
    from mambaenv.render import console, print_json

    if as_json:
        result = guarded(lambda: d.pull(ref), as_json)
        print_json(result)
        return
    from mambaenv.render import progress

    try:
        with progress(f"pulling {ref}") as cb:
            result = d.pull(ref, cb)
    except MambaenvError as e:
        fail(e)
    console.print(f"pulled {ref}; run it: mambaenv docker run ./project --image {ref}")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(ExitCode.INTERRUPTED)
