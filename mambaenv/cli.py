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
docker_app = typer.Typer(no_args_is_help=True, help="Build and run a GPU image with the wheels, without a registry.")
app.add_typer(docker_app, name="docker")
DEFAULT_TAG = "mambaenv-mamba:latest"

PythonOpt = typer.Option(None, "--python", help="Target interpreter path (default: the active env, else python on PATH).")
EnvOpt = typer.Option(None, "--env", help="Target conda env name, env prefix or venv directory.")
JsonOpt = typer.Option(False, "--json", help="Machine-readable output with a stable shape.")


def fail(e: MambaenvError, as_json: bool = False) -> None:
    from mambaenv.render import err_console, print_json

    if as_json:
        print_json({"error": e.message, "fix": e.fix})
    err_console.print(f"[red]error:[/] {e.one_line()}", soft_wrap=True)
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
) -> None:
    """What this machine and env have, which prebuilt wheels fit, and what to do when none does."""
    from mambaenv import commands

    result = guarded(lambda: commands.doctor(python, env, deep=deep, offline=offline, with_docker=True), as_json)
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

    choices = guarded(lambda: commands.resolve(package, package_version, python, env, torch, torch_cuda, cxx11abi, machine, ngc, offline), as_json)
    from mambaenv.render import choices_lines, err_console, print_json

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

    counts = guarded(lambda: commands.catalog_refresh(api), as_json)
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

    rows = guarded(lambda: commands.catalog_list(package, offline), as_json)
    from mambaenv.render import console, print_json

    if as_json:
        print_json({"releases": rows})
    else:
        for r in rows:
            note = f"  ({r['no_wheels_reason']})" if r["no_wheels_reason"] else ""
            console.print(f"{r['tag']:<16} files {r['package_version']:<12} era {r['era']:<3} wheels {r['wheels']:>4}{note}")


@app.command()
def download(
    package: str = typer.Option("all", "--package", help="mamba_ssm, causal_conv1d or all (resolved for the target env)."),
    url: Optional[str] = typer.Option(None, "--url", help="Fetch this wheel URL instead of resolving."),
    dest: str = typer.Option(".", "--dest", help="Folder to place the file(s) in."),
    sha256: Optional[str] = typer.Option(None, "--sha256", help="Expected sha256 of the file."),
    mirror: List[str] = typer.Option([], "--mirror", help="URL prefix tried before the original (repeatable)."),
    segments: Optional[int] = typer.Option(None, "--segments", help="Parallel connections (default 8)."),
    python: Optional[str] = PythonOpt,
    env: Optional[str] = EnvOpt,
    offline_catalog: bool = typer.Option(False, "--offline-catalog", help="Resolve with the shipped catalog only."),
    as_json: bool = JsonOpt,
) -> None:
    """Download wheel(s): resumable, parallel, verified, cached."""
    from mambaenv import commands

    try:
        if url:
            jobs = [(url, sha256, None)]
        else:
            jobs = [(c.wheel.url, c.wheel.sha256, c.wheel.size) for c in commands.resolved_wheels(package, python, env, offline_catalog)]
        results = []
        for u, sha, size in jobs:
            got, placed = commands.fetch_to(u, dest, sha, size, mirror, segments, show_progress=not as_json)
            results.append({"url": u, "file": str(placed), "sha256": got.sha256, "size": got.size, "from_cache": got.from_cache,
                            "served_by": got.url})
    except MambaenvError as e:
        fail(e, as_json)
    from mambaenv.render import console, print_json

    if as_json:
        print_json({"files": results})
    else:
        for r in results:
            console.print(f"{r['file']}  sha256 {r['sha256'][:16]}…{'  (cached)' if r['from_cache'] else ''}")


@app.command()
def bundle(
    output: str = typer.Option(..., "-o", "--output", help="The bundle file to write (a tar archive)."),
    python: Optional[str] = typer.Option(None, "--python", help="Target Python version (explicit facts)."),
    torch: Optional[str] = typer.Option(None, "--torch"),
    torch_cuda: Optional[str] = typer.Option(None, "--torch-cuda"),
    cxx11abi: Optional[str] = typer.Option(None, "--cxx11abi"),
    machine: str = typer.Option("x86_64", "--machine"),
    ngc: Optional[str] = typer.Option(None, "--ngc"),
    from_doctor: Optional[str] = typer.Option(None, "--from", help="A doctor --json file from the target server."),
    wheel: List[str] = typer.Option([], "--wheel", help="Use these local wheels instead of downloading the resolved ones."),
    mirror: List[str] = typer.Option([], "--mirror"),
    index_url: Optional[str] = typer.Option(None, "--index-url", help="Package index for the dependency wheels ('none': --find-links only)."),
    find_links: List[str] = typer.Option([], "--find-links", help="Extra local folders of dependency wheels."),
    offline_catalog: bool = typer.Option(False, "--offline-catalog"),
    as_json: bool = JsonOpt,
) -> None:
    """On a connected machine: both wheels, their dependencies and a manifest, in one file for a server."""
    from mambaenv import bundle as bundle_mod

    try:
        result = bundle_mod.make_bundle(output, python, torch, torch_cuda, cxx11abi, machine, ngc, from_doctor, wheel, mirror,
                                        index_url, find_links, offline_catalog, show_progress=not as_json)
    except MambaenvError as e:
        fail(e, as_json)
    from mambaenv.render import console, print_json

    if as_json:
        print_json(result)
    else:
        console.print(f"wrote {result['bundle']}: {len(result['files'])} files, {result['bytes'] / 1e6:.1f} MB, for {result['env']}")
        console.print(f"on the server: mambaenv install --offline-wheel {result['bundle']} --new-env mamba_env")


@app.command()
def install(
    offline_wheel: Optional[str] = typer.Option(None, "--offline-wheel", help="A .whl, a folder of wheels, or a bundle: no network at all."),
    new_env: Optional[str] = typer.Option(None, "--new-env", help="Create this env (a conda name, or a path for a venv) and install there."),
    env: Optional[str] = EnvOpt,
    python: Optional[str] = PythonOpt,
    python_version: Optional[str] = typer.Option(None, "--python-version", help="Python for --new-env, e.g. 3.10."),
    torch: Optional[str] = typer.Option(None, "--torch", help="torch version to put in --new-env before the wheels."),
    torch_index: Optional[str] = typer.Option(None, "--torch-index", help="Index URL for torch in --new-env."),
    find_links: List[str] = typer.Option([], "--find-links", help="Folders of dependency wheels."),
    index_url: Optional[str] = typer.Option(None, "--index-url"),
    no_index: bool = typer.Option(False, "--no-index", help="Dependencies only from --find-links, never from an index."),
    venv_only: bool = typer.Option(False, "--venv", help="With --new-env: make a venv even when conda is present."),
    force: bool = typer.Option(False, "--force", help="Install even when a wheel does not match the env (torch stays pinned)."),
    no_deps: bool = typer.Option(False, "--no-deps", help="Install only the wheels; the env already has their dependencies."),
    mirror: List[str] = typer.Option([], "--mirror"),
    as_json: bool = JsonOpt,
) -> None:
    """Install the wheels into a fresh or existing env, checked first, torch pinned."""
    from mambaenv import commands

    try:
        result = commands.install_cmd(offline_wheel, new_env, env, python, python_version, torch, torch_index, find_links,
                                      index_url, venv_only, force, mirror, as_json, no_deps, no_index)
    except MambaenvError as e:
        fail(e, as_json)
    from mambaenv.render import console, print_json

    if as_json:
        print_json(result.to_dict())
    else:
        console.print(f"[green]installed[/] {', '.join(result.wheels)} into {result.prefix} (torch {result.torch} kept)")
        if result.created:
            console.print(f"activate it with: {result.activate}")


@app.command()
def smoke(
    python: Optional[str] = PythonOpt,
    env: Optional[str] = EnvOpt,
    bench: bool = typer.Option(False, "--bench", help="Add larger shapes and the achieved memory bandwidth."),
    as_json: bool = JsonOpt,
) -> None:
    """Run the Mamba kernels on the GPU in the target env; explain any failure. Exit 3: no CUDA device."""
    from mambaenv import commands

    try:
        code, result = commands.smoke(python, env, bench, quiet=as_json)
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
    raise typer.Exit(code)


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
    raise typer.Exit(0 if d else 1)


@app.command()
def build(
    package: str = typer.Option("all", "--package", help="mamba_ssm, causal_conv1d or all (built in parallel)."),
    sdist: List[str] = typer.Option([], "--sdist", help="Local sdist file(s) (offline); default: from the package index."),
    arch: str = typer.Option("native", "--arch", help="native (this GPU), a list like 9.0,8.6, or upstream (every architecture)."),
    jobs: Optional[int] = typer.Option(None, "--jobs", help="MAX_JOBS for each build (default from cores and free memory)."),
    python: Optional[str] = PythonOpt,
    env: Optional[str] = EnvOpt,
    version: Optional[str] = typer.Option(None, "--package-version", help="Version to fetch from the index."),
    index_url: Optional[str] = typer.Option(None, "--index-url"),
    dest: Optional[str] = typer.Option(None, "--dest", help="Folder for the wheels (default: the mambaenv cache)."),
    as_json: bool = JsonOpt,
) -> None:
    """Build wheels from the sdist for this GPU's architecture only (minutes, not hours)."""
    from mambaenv import commands

    results = guarded(lambda: commands.build_cmd(package, sdist, arch, jobs, python, env, version, index_url, dest, quiet=as_json), as_json)
    from mambaenv.render import console, print_json

    if as_json:
        print_json({"builds": results})
    else:
        for r in results:
            if "error" in r:
                console.print(f"[red]{r['package']}[/]: {r['error']}", soft_wrap=True)
            else:
                console.print(f"[green]{r['package']}[/]: {r['wheel']} ({r['size'] / 1e6:.1f} MB, {r['seconds']:.0f} s, arch {r['archs']})")
    raise typer.Exit(1 if any("error" in r for r in results) else 0)


@docker_app.command("build")
def docker_build(
    base_image: Optional[str] = typer.Option(None, "--base-image", help="Base image with torch (default: an official PyTorch image for the target env)."),
    wheel: List[str] = typer.Option([], "--wheel", help="Wheel files to copy in (mamba_ssm, causal_conv1d and any dependency wheels)."),
    bundle: Optional[str] = typer.Option(None, "--bundle", help="A file made by mambaenv bundle."),
    tag: str = typer.Option(DEFAULT_TAG, "--tag", "-t"),
    requirements: Optional[str] = typer.Option(None, "--requirements", help="Project requirements (their wheels must be among --wheel)."),
    network: str = typer.Option("none", "--network", help="Build network; none when everything is local (the default)."),
    python: Optional[str] = PythonOpt,
    env: Optional[str] = EnvOpt,
    force: bool = typer.Option(False, "--force", help="Build even when a wheel does not match the base image."),
    as_json: bool = JsonOpt,
) -> None:
    """Build an image: the wheels are fetched (or built) on the host and copied in; the build needs no network."""
    from mambaenv import commands

    result = guarded(lambda: commands.docker_build(base_image, wheel, bundle, tag, requirements, network, python, env, force, as_json), as_json)
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
    image: str = typer.Option(DEFAULT_TAG, "--image"),
    gpus: str = typer.Option("all", "--gpus", help="all, none, a count, or device ids like 0,1."),
    read_only: bool = typer.Option(False, "--read-only", help="Mount the project read-only."),
    detach: bool = typer.Option(False, "--detach", "-d"),
    network: Optional[str] = typer.Option(None, "--network", help="Container network (e.g. none)."),
    shm_size: str = typer.Option("8g", "--shm-size", help="Shared memory for PyTorch data loaders."),
    name: Optional[str] = typer.Option(None, "--name"),
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
        for r in rows:
            console.print(f"{r['id']}  {r['name']:<24} {r['status']:<10} {r['image']:<28} {r['project']}")


@docker_app.command("attach")
def docker_attach(container: str) -> None:
    """Attach your terminal to a running mambaenv container."""
    from mambaenv import docker as d

    try:
        d.attach_cli(container)
    except MambaenvError as e:
        fail(e)


@docker_app.command("stop")
def docker_stop(container: str, as_json: bool = JsonOpt) -> None:
    """Stop a mambaenv container."""
    from mambaenv import docker as d
    from mambaenv.render import print_json

    guarded(lambda: d.stop(container), as_json)
    if as_json:
        print_json({"stopped": container})


@docker_app.command("rm")
def docker_rm(container: str, force: bool = typer.Option(False, "--force", "-f"), as_json: bool = JsonOpt) -> None:
    """Remove a mambaenv container."""
    from mambaenv import docker as d
    from mambaenv.render import print_json

    guarded(lambda: d.remove(container, force), as_json)
    if as_json:
        print_json({"removed": container})


@docker_app.command("commit")
def docker_commit(container: str, tag: str, as_json: bool = JsonOpt) -> None:
    """Save a container's state as an image (then: mambaenv docker run ./project --image TAG)."""
    from mambaenv import docker as d
    from mambaenv.render import console, print_json

    image_id = guarded(lambda: d.commit(container, tag), as_json)
    if as_json:
        print_json({"image": tag, "id": image_id})
    else:
        console.print(f"saved {container} as {tag}")


@docker_app.command("save")
def docker_save(tag: str, output: str = typer.Option(..., "-o", "--output", help="FILE or FILE.gz"), as_json: bool = JsonOpt) -> None:
    """Write an image to a file, for a server that cannot pull."""
    from pathlib import Path

    from mambaenv import docker as d
    from mambaenv.render import console, print_json

    try:
        if as_json:
            n = d.save(tag, Path(output))
        else:
            from mambaenv.fetch import rich_progress

            with rich_progress(f"saving {tag}") as cb:
                n = d.save(tag, Path(output), cb)
    except MambaenvError as e:
        fail(e, as_json)
    if as_json:
        print_json({"image": tag, "file": output, "bytes": n})
    else:
        console.print(f"wrote {output}; on the server: mambaenv docker load {Path(output).name}")


@docker_app.command("load")
def docker_load(file: str, as_json: bool = JsonOpt) -> None:
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


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
