"""The typer app: parse, call, render. Logic lives in the modules it calls."""
from __future__ import annotations

import functools
import inspect
import sys
from pathlib import Path
from typing import List, NoReturn, Optional

import typer
import typer.main

from mambaenv import __version__
from mambaenv.errors import ExitCode, MambaenvError, exit_code_table


def root_app() -> typer.Typer:
    return typer.Typer(add_completion=True, no_args_is_help=True, help="Get mamba_ssm and causal_conv1d working on this GPU machine.",
                       epilog="Exit codes:\n\n" + exit_code_table())


app = root_app()
catalog_app = typer.Typer(no_args_is_help=True, help="The upstream release catalog.")
app.add_typer(catalog_app, name="catalog")
docker_app = typer.Typer(no_args_is_help=True, help="Build and run a GPU image with the wheels; move it by file (save/load) or through a registry (push/pull).")
app.add_typer(docker_app, name="docker")
DEFAULT_TAG = "mambaenv-mamba:latest"  # docker build --tag, docker run --image

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
# The flags that describe a target env: added once to every command that works for another machine (with_target_facts).
FACT_OPTIONS = {"python": (Optional[str], FactsPythonOpt), "env": (Optional[str], EnvOpt), "torch": (Optional[str], TorchOpt),
                "torch_cuda": (Optional[str], TorchCudaOpt), "cxx11abi": (Optional[str], Cxx11AbiOpt), "machine": (str, MachineOpt),
                "ngc": (Optional[str], NgcOpt)}


def with_target_facts(command):
    """Give ``command`` the target-facts flags (FACT_OPTIONS) and hand them to it as one ``facts`` dict: typer reads the
    signature, so the flags are declared once for resolve, download, bundle and whatever else describes a target."""
    sig = inspect.signature(command)
    extra = [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=opt, annotation=ann) for n, (ann, opt) in FACT_OPTIONS.items()]

    @functools.wraps(command)
    def wrapper(**kw):
        return command(facts={n: kw.pop(n) for n in FACT_OPTIONS}, **kw)

    wrapper.__signature__ = sig.replace(parameters=[p for n, p in sig.parameters.items() if n != "facts"] + extra)
    wrapper.__annotations__ = {**{k: v for k, v in command.__annotations__.items() if k != "facts"},
                               **{n: ann for n, (ann, _) in FACT_OPTIONS.items()}}
    return wrapper


NoThirdPartyOpt = typer.Option(False, "--no-third-party", help="Never answer with a third-party build (Astral's indexes); "
                               "the config file's \"third_party\": false does the same.")


def fail(e: MambaenvError, as_json: bool = False) -> None:
    # start-up: the renderers load only when there is something to show
    from mambaenv.render import err, escape, print_json

    if as_json:
        print_json({"error": e.message, "fix": e.fix, "detail": e.detail})
    err().print(f"[red]error:[/] {escape(e.one_line())}", soft_wrap=True)  # a message may hold [...] from a server or a path
    raise typer.Exit(e.exit_code)


def guarded(call, as_json: bool = False):
    """Run ``call``; a MambaenvError becomes one line on stderr and its exit code."""
    try:
        return call()
    except MambaenvError as e:
        fail(e, as_json)


def render():
    """The renderers (mambaenv.render), loaded once there is something to show."""
    from mambaenv import render as renderers  # start-up: --help loads no renderer

    return renderers


class Answer:
    """The result of a command whose answer is plain data: its --json shape as is, exit code OK."""

    exit_code = ExitCode.OK

    def __init__(self, data):
        self.data = data

    def to_dict(self):
        return self.data


def run(call, as_json: bool, show) -> NoReturn:
    """Call the command; a MambaenvError becomes one stderr line and its exit code; --json prints result.to_dict(), else
    ``show(result)`` renders it; the exit code is the result's (a result without one succeeded)."""
    result = guarded(call, as_json)
    if as_json:
        render().print_json(result.to_dict())
    else:
        show(result)
    raise typer.Exit(getattr(result, "exit_code", ExitCode.OK))


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
    deep: bool = typer.Option(False, "--deep", help="Also import torch in the target env to confirm its facts; load the extensions even when nothing changed."),
    offline: bool = typer.Option(False, "--offline", help="Use only the shipped catalog."),
    wheelhouse: List[str] = WheelhouseOpt,
    no_third_party: bool = NoThirdPartyOpt,
) -> None:
    """What this machine and env have, which prebuilt wheels fit, and what to do when none does."""
    from mambaenv.commands import diagnose  # start-up: each command loads only its own family

    req = diagnose.DoctorRequest(python, env, deep=deep, offline=offline, with_docker=True, wheelhouses=tuple(wheelhouse),
                                 no_third_party=no_third_party)
    run(lambda: diagnose.doctor(req), as_json, lambda r: render().doctor_report(r))


@app.command()
@with_target_facts
def resolve(
    facts: dict,
    package: str = typer.Option("all", "--package", help="mamba_ssm, causal_conv1d or all."),
    package_version: Optional[str] = typer.Option(None, "--package-version", help="A release version or tag; default the newest that fits."),
    offline: bool = typer.Option(False, "--offline", help="Use only the shipped catalog."),
    wheelhouse: List[str] = WheelhouseOpt,
    no_third_party: bool = NoThirdPartyOpt,
    gpu_arch: Optional[str] = typer.Option(None, "--gpu-arch", help="GPU compute capabilities to check (12.0,8.6 or sm_120), or native."),
    as_json: bool = JsonOpt,
) -> None:
    """Print the wheel URL(s) for an env: one per line, ready for a browser, or --json."""
    from mambaenv.commands import resolve as resolving  # start-up: each command loads only its own family

    req = resolving.ResolveRequest(package, package_version, resolving.TargetArgs(**facts, gpu_arch=gpu_arch), offline, tuple(wheelhouse),
                                   no_third_party=no_third_party)
    run(lambda: resolving.resolve(req), as_json, lambda r: render().resolve_report(r))


@app.command()
def lock(
    fmt: str = typer.Option("requirements", "--format", help="requirements (pip --require-hashes), uv (pyproject.toml), pixi (pixi.toml) "
                            "or conda (environment.yml)."),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Write the file here (default: stdout)."),
    write: Optional[str] = typer.Option(None, "--write", help="Merge into this existing pyproject.toml (uv) or pixi.toml (pixi); "
                                        "nothing else in it changes."),
    target: List[str] = typer.Option([], "--target", help="A target's facts, e.g. \"python=3.11,torch=2.6.0,torch-cuda=12.6,cxx11abi=true\" "
                                     "(machine=aarch64 too); repeat for every kind of machine of the team."),
    package: str = typer.Option("all", "--package", help="mamba_ssm, causal_conv1d or all."),
    python: Optional[str] = FactsPythonOpt,
    env: Optional[str] = EnvOpt,
    torch: Optional[str] = TorchOpt,
    torch_cuda: Optional[str] = TorchCudaOpt,
    cxx11abi: Optional[str] = Cxx11AbiOpt,
    machine: str = MachineOpt,
    ngc: Optional[str] = NgcOpt,
    offline: bool = typer.Option(False, "--offline", help="Shipped catalog only, no index read, and no download to hash a wheel whose "
                                 "sha256 no list gives."),
    wheelhouse: List[str] = WheelhouseOpt,
    no_third_party: bool = NoThirdPartyOpt,
    mirror: List[str] = MirrorOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Pin the planned wheels for one or more targets in the project's own file: pip, uv, pixi or conda then install them."""
    from mambaenv.commands import lock as locking  # start-up: each command loads only its own family

    facts = locking.TargetArgs(python, env, torch, torch_cuda, cxx11abi, machine, ngc)
    req = locking.LockRequest(fmt, tuple(target), facts, offline, tuple(wheelhouse), package, output, write, tuple(mirror),
                              show_progress=not as_json, no_third_party=no_third_party)
    run(lambda: locking.lock_cmd(req), as_json, lambda r: render().lock_report(r))


@catalog_app.command("refresh")
def catalog_refresh(
    api: Optional[str] = typer.Option(None, "--api", help="GitHub API base URL (default https://api.github.com or MAMBAENV_GITHUB_API)."),
    as_json: bool = JsonOpt,
) -> None:
    """Fetch the live release asset lists (sizes, sha256) into the cache; they override the shipped data."""
    from mambaenv.commands import catalog  # start-up: each command loads only its own family

    run(lambda: catalog.catalog_refresh(catalog.CatalogRequest(api=api)), as_json, lambda r: render().catalog_refresh_lines(r.rows))


@catalog_app.command("list")
def catalog_list(
    package: str = typer.Option("all", "--package", help="mamba_ssm, causal_conv1d or all."),
    offline: bool = typer.Option(False, "--offline", help="Use only the shipped catalog, not the one catalog refresh saved."),
    as_json: bool = JsonOpt,
) -> None:
    """Every release, the version its files carry, its era (how its file names spell CUDA), and its wheel count."""
    from mambaenv.commands import catalog  # start-up: each command loads only its own family

    run(lambda: catalog.catalog_list(catalog.CatalogRequest(package, offline=offline)), as_json, lambda r: render().catalog_report(r.rows))


@catalog_app.command("wheels")
def catalog_wheels(
    package: str = typer.Option("all", "--package", help="mamba_ssm, causal_conv1d or all."),
    tag: Optional[str] = typer.Option(None, "--tag", help="One release tag (default: every release)."),
    offline: bool = typer.Option(False, "--offline", help="Use only the shipped catalog."),
    as_json: bool = JsonOpt,
) -> None:
    """Every wheel file the catalog names, with sha256, source (listed/predicted/live), CUDA toolkit and GPU archs."""
    from mambaenv.commands import catalog  # start-up: each command loads only its own family

    run(lambda: catalog.catalog_wheels(catalog.CatalogRequest(package, tag, offline)), as_json, lambda r: render().catalog_wheels_lines(r.rows))


@catalog_app.command("page")
def catalog_page(
    output: str = typer.Option(..., "-o", "--output", help="The folder to write index.html and answers.json into."),
    offline: bool = typer.Option(False, "--offline", help="Use only the shipped catalog, not the one catalog refresh saved."),
    jobs: Optional[int] = typer.Option(None, "--jobs", help="Processes computing the answers (default: one per core)."),
    as_json: bool = JsonOpt,
) -> None:
    """A static page (works from file://, no server): pick torch, CUDA, Python, ABI, machine and GPU, get the planner's answer."""
    from mambaenv.commands import catalog  # start-up: each command loads only its own family

    run(lambda: catalog.catalog_page(catalog.PageRequest(output, offline, jobs, quiet=as_json)), as_json,
        lambda r: render().catalog_page_report(r))


@app.command("inspect")
def inspect_cmd(wheels: List[str] = typer.Argument(..., help="One or more .whl files (a shell glob such as mamba_ssm-*.whl)."),
                as_json: bool = JsonOpt) -> None:
    """What a wheel was built for: Python tag, torch, CUDA, ABI, glibc needs and the GPU archs in its libraries.
    --json: one object for one file, a list of them for several."""
    from mambaenv.commands import inspect  # start-up: each command loads only its own family

    run(lambda: inspect.inspect(inspect.InspectRequest(tuple(wheels))), as_json,
        lambda r: [render().inspect_report(i.to_dict()) for i in r.infos])


@app.command()
@with_target_facts
def download(
    facts: dict,
    package: str = typer.Option("all", "--package", help="mamba_ssm, causal_conv1d or all (resolved for the target env)."),
    url: Optional[str] = typer.Option(None, "--url", help="Fetch this wheel URL instead of resolving."),
    dest: str = typer.Option(".", "--dest", help="Folder to place the file(s) in."),
    sha256: Optional[str] = typer.Option(None, "--sha256", help="Expected sha256 of the file."),
    mirror: List[str] = MirrorOpt,
    segments: Optional[int] = typer.Option(None, "--segments", help="Parallel connections (default: from the measured rate, up to 16)."),
    offline_catalog: bool = typer.Option(False, "--offline-catalog", help="Resolve with the shipped catalog only."),
    wheelhouse: List[str] = WheelhouseOpt,
    no_third_party: bool = NoThirdPartyOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Download wheel(s): resumable, parallel, verified, cached. The same facts as resolve pick the files."""
    from mambaenv.commands import files  # start-up: each command loads only its own family

    req = files.DownloadRequest(package, url, sha256, dest, tuple(mirror), segments, files.TargetArgs(**facts), offline_catalog, show_progress=not as_json,
                                wheelhouses=tuple(wheelhouse), no_third_party=no_third_party)
    try:
        run(lambda: files.download_cmd(req), as_json, lambda r: render().download_lines(r))
    except KeyboardInterrupt:  # the downloader saved its progress on the way out
        sys.stderr.write("interrupted; the progress is saved: run the same command again to resume\n")
        raise typer.Exit(ExitCode.INTERRUPTED) from None


@app.command()
@with_target_facts
def bundle(
    facts: dict,
    output: str = typer.Option(..., "-o", "--output", help="The bundle file to write (a tar archive)."),
    from_doctor: Optional[str] = typer.Option(None, "--from", help="A doctor --json file from the target server."),
    wheel: List[str] = typer.Option([], "--wheel", help="Use these local wheels instead of downloading the resolved ones."),
    mirror: List[str] = MirrorOpt,
    index_url: Optional[str] = typer.Option(None, "--index-url", help="Package index for the dependency wheels ('none': --find-links only)."),
    find_links: List[str] = typer.Option([], "--find-links", help="Extra local folders of dependency wheels."),
    offline_catalog: bool = typer.Option(False, "--offline-catalog", help="Resolve with the shipped catalog only."),
    wheelhouse: List[str] = WheelhouseOpt,
    no_third_party: bool = NoThirdPartyOpt,
    as_json: bool = JsonOpt,
) -> None:
    """On a connected machine: both wheels, their dependencies and a manifest, in one file for a server."""
    from mambaenv.commands import files  # start-up: each command loads only its own family

    req = files.BundleRequest(output, files.TargetArgs(**facts), from_doctor, tuple(wheel), tuple(mirror), index_url, tuple(find_links), offline_catalog,
                              show_progress=not as_json, wheelhouses=tuple(wheelhouse), no_third_party=no_third_party)
    run(lambda: files.bundle_cmd(req), as_json, lambda r: render().bundle_lines(r))


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
    reinstall: bool = typer.Option(False, "--reinstall", help="Replace a package that is installed and fits (default: keep it)."),
    mirror: List[str] = MirrorOpt,
    wheelhouse: List[str] = WheelhouseOpt,
    no_third_party: bool = NoThirdPartyOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Install the wheels into a fresh or existing env, checked first, torch pinned."""
    from mambaenv.commands import install as installing  # start-up: each command loads only its own family

    def call():
        spec = installing.new_env_spec(new_env, python or python_version, torch, torch_index, torch_cuda, venv_only, conda_forge,
                                       env=env) if new_env else None
        req = installing.InstallRequest(offline_wheel, spec, env, None if new_env else python, tuple(find_links), index_url, no_index,
                                        force, no_deps, tuple(mirror), quiet=as_json, wheelhouses=tuple(wheelhouse), reinstall=reinstall,
                                        no_third_party=no_third_party)
        return installing.install_cmd(req)

    run(call, as_json, lambda r: render().install_report(r))


@app.command()
def smoke(
    python: Optional[str] = PythonOpt,
    env: Optional[str] = EnvOpt,
    bench: bool = typer.Option(False, "--bench", help="Add larger shapes and the achieved memory bandwidth."),
    full_autotune: bool = typer.Option(False, "--full-autotune", help="Let Triton try every autotune config (slow when cold)."),
    as_json: bool = JsonOpt,
) -> None:
    """Run the Mamba kernels on the GPU in the target env; explain any failure. Exit 8: no CUDA device."""
    from mambaenv.commands import gpu  # start-up: each command loads only its own family

    req = gpu.SmokeRequest(python, env, bench, quiet=as_json, full_autotune=full_autotune)
    run(lambda: gpu.smoke(req), as_json, lambda r: render().smoke_report(r))


@app.command()
def explain(
    text: Optional[str] = typer.Argument(None, help="The error text (or pipe a log in: cmd 2>&1 | mambaenv explain)."),
    file: Optional[str] = typer.Option(None, "--file", help="A log file to read instead; - reads standard input."),
    python: Optional[str] = typer.Option(None, "--python", help="The env the error came from: its facts make the fix concrete."),
    env: Optional[str] = EnvOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Explain an install or import error in plain words, with the fix; reads a whole pip log too."""
    from mambaenv.commands import explain as explaining  # start-up: each command loads only its own family

    req = explaining.ExplainRequest(text, file, python, env, sys.stdin)
    run(lambda: explaining.explain_cmd(req), as_json, lambda r: render().explain_report(r))


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
    from mambaenv.commands import gpu  # start-up: each command loads only its own family

    req = gpu.BuildRequest(package, tuple(sdist), arch, jobs, python, env, version, index_url, dest, quiet=as_json, split=not no_split)
    run(lambda: gpu.build_cmd(req), as_json, lambda r: render().build_report(r))


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
    no_third_party: bool = NoThirdPartyOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Build an image: the wheels are fetched (or built) on the host and copied in; the build needs no network."""
    from mambaenv.commands import containers  # start-up: each command loads only its own family

    req = containers.DockerBuildRequest(tag, base_image, tuple(wheel), bundle, requirements, network, python, env, force, quiet=as_json,
                                        wheelhouses=tuple(wheelhouse), no_third_party=no_third_party)
    run(lambda: containers.docker_build(req), as_json, lambda r: render().docker_build_report(r))


@docker_app.callback()
def _docker(engine: Optional[str] = typer.Option(None, "--engine", help="docker, podman (its API socket, else its CLI) or podman-cli; "
                                                  "default: MAMBAENV_ENGINE, DOCKER_HOST, CONTAINER_HOST, then whichever answers.")) -> None:
    if engine:  # read where the engine is chosen (detect/docker_engine.py), as MAMBAENV_ENGINE would be
        import os  # start-up: only docker commands read it

        from mambaenv.detect.engine_facts import ENGINE_NAMES  # start-up: only docker commands check it

        if engine not in ENGINE_NAMES:
            fail(MambaenvError(f"--engine {engine} names no engine mambaenv knows", "give docker, podman or podman-cli"))
        os.environ["MAMBAENV_ENGINE"] = engine


@docker_app.command("run")
def docker_run(
    project: str = typer.Argument(..., help="The project folder, mounted at /workspace."),
    command: Optional[List[str]] = typer.Argument(None, help="Command to run (after --); default an interactive shell."),
    image: str = typer.Option(DEFAULT_TAG, "--image", help="The image to run (made by mambaenv docker build)."),
    gpus: str = typer.Option("all", "--gpus", help="all, none, a count N, or device ids like 0,1 (0 alone: GPU 0); by CDI on Podman and Docker >= 25."),
    device: List[str] = typer.Option([], "--device", help="A CDI device to add, vendor.com/class=name (repeatable)."),
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
    from mambaenv.commands import containers  # start-up: each command loads only its own family

    req = containers.DockerRunRequest(project, image, tuple(command or ()), gpus, read_only, detach, network, shm_size, name, user,
                                      quiet=as_json, devices=tuple(device))
    run(lambda: containers.docker_run(req), as_json, lambda r: render().docker_run_report(r))


@docker_app.command("ps")
def docker_ps(as_json: bool = JsonOpt) -> None:
    """mambaenv's containers, running or not."""
    from mambaenv.commands import containers  # start-up: each command loads only its own family

    run(lambda: containers.docker_ps(containers.ContainerRequest()), as_json, lambda r: render().containers_lines(r.containers))


@docker_app.command("attach")
def docker_attach(container: str = typer.Argument(..., help="Container name or id (see mambaenv docker ps).")) -> None:
    """Attach your terminal to a running mambaenv container."""
    from mambaenv.commands import containers  # start-up: each command loads only its own family

    guarded(lambda: containers.docker_attach(containers.ContainerRequest(container)))


@docker_app.command("stop")
def docker_stop(container: str = typer.Argument(..., help="Container name or id."), as_json: bool = JsonOpt) -> None:
    """Stop a mambaenv container."""
    from mambaenv.commands import containers  # start-up: each command loads only its own family

    run(lambda: containers.docker_stop(containers.ContainerRequest(container)), as_json, lambda r: None)


@docker_app.command("rm")
def docker_rm(container: str = typer.Argument(..., help="Container name or id."),
              force: bool = typer.Option(False, "--force", "-f", help="Remove it even while it runs."), as_json: bool = JsonOpt) -> None:
    """Remove a mambaenv container."""
    from mambaenv.commands import containers  # start-up: each command loads only its own family

    run(lambda: containers.docker_rm(containers.ContainerRequest(container, force)), as_json, lambda r: None)


@docker_app.command("commit")
def docker_commit(container: str = typer.Argument(..., help="Container name or id."),
                  tag: str = typer.Argument(..., help="Name:tag for the new image."), as_json: bool = JsonOpt) -> None:
    """Save a container's state as an image (then: mambaenv docker run ./project --image TAG)."""
    from mambaenv.commands import containers  # start-up: each command loads only its own family

    run(lambda: containers.docker_commit(containers.CommitRequest(container, tag)), as_json,
        lambda r: render().out().print(f"saved {container} as {tag}", markup=False))


def with_progress(label: str, as_json: bool, call):
    """``call(progress_callback)`` under a progress bar; without one for --json (stdout holds only the JSON)."""
    if as_json:
        return call(None)
    with render().progress(label) as cb:
        return call(cb)


@docker_app.command("save")
def docker_save(tag: str = typer.Argument(..., help="The image to save."),
                output: str = typer.Option(..., "-o", "--output", help="FILE or FILE.gz"), as_json: bool = JsonOpt) -> None:
    """Write an image to a file, for a server that cannot pull."""
    from mambaenv.commands import containers  # start-up: each command loads only its own family

    req = containers.SaveRequest(tag, output)
    run(lambda: with_progress(f"saving {tag}", as_json, lambda cb: containers.docker_save(req, cb)), as_json,
        lambda r: render().out().print(f"wrote {output}; on the server: mambaenv docker load {Path(output).name}", markup=False))


@docker_app.command("load")
def docker_load(file: str = typer.Argument(..., help="An image file made by mambaenv docker save."), as_json: bool = JsonOpt) -> None:
    """Load an image file made by docker save (gzip or plain); it is streamed, never read whole into memory."""
    from mambaenv.commands import containers  # start-up: each command loads only its own family

    def call():
        if as_json:
            return containers.docker_load(containers.LoadRequest(file))
        with render().err().status(f"loading {file}"):
            return containers.docker_load(containers.LoadRequest(file))

    run(call, as_json, lambda r: render().out().print("loaded " + ", ".join(r.images), markup=False))


@docker_app.command("export")
def docker_export(
    image: str = typer.Argument(..., help="A local image, e.g. mambaenv-mamba:latest."),
    sif: str = typer.Option(..., "--sif", help="The Apptainer image to make, FILE.sif (needs apptainer here; without it the tar "
                            "and the commands for the cluster are printed)."),
    keep_tar: bool = typer.Option(False, "--keep-tar", help="Keep the docker-archive tar beside the SIF."),
    as_json: bool = JsonOpt,
) -> None:
    """Turn an image into an Apptainer (Singularity) image for a Slurm cluster."""
    from mambaenv.commands import containers  # start-up: each command loads only its own family

    req = containers.ExportRequest(image, sif, keep_tar)
    run(lambda: with_progress(f"saving {image}", as_json, lambda cb: containers.docker_export(req, cb)), as_json,
        lambda r: render().docker_export_report(r))


@app.command()
def publish(
    sources: List[str] = typer.Argument(..., help="Wheel files, folders of wheels, or bundles made by mambaenv bundle."),
    to: str = typer.Option(..., "--to", help="The wheelhouse folder: packages/ and a PEP 503 simple/ index are written there."),
    gpu_arch: Optional[str] = typer.Option(None, "--gpu-arch", help="Compute capabilities the wheels were built for (mambaenv build --arch), "
                                           "e.g. 9.0; nodes with another GPU then skip them."),
    as_json: bool = JsonOpt,
) -> None:
    """Add wheels to a wheelhouse that pip and uv read (--index-url DIR/simple or a web server on DIR); files are never replaced."""
    from mambaenv.commands import publish as publishing  # start-up: each command loads only its own family

    run(lambda: publishing.publish_cmd(publishing.PublishRequest(tuple(sources), to, gpu_arch)), as_json, lambda r: render().publish_report(r))


@docker_app.command("push")
def docker_push(
    image: str = typer.Argument(..., help="A local image, e.g. mambaenv-mamba:latest."),
    registry: str = typer.Option(..., "--registry", help="HOST:PORT of the lab's registry."),
    as_json: bool = JsonOpt,
) -> None:
    """Push an image to a registry (tagged HOST:PORT/name:tag) so every node can pull it."""
    from mambaenv.commands import containers  # start-up: each command loads only its own family

    req = containers.PushRequest(image, registry)
    run(lambda: with_progress(f"pushing {image}", as_json, lambda cb: containers.docker_push(req, cb)), as_json,
        lambda r: render().out().print(f"pushed {r.pushed} ({r.digest}); on a node: mambaenv docker pull {r.pushed}", markup=False))


@docker_app.command("pull")
def docker_pull(ref: str = typer.Argument(..., help="HOST:PORT/name:tag, as docker push printed it."), as_json: bool = JsonOpt) -> None:
    """Pull an image from a registry (with progress); without a registry use save/load."""
    from mambaenv.commands import containers  # start-up: each command loads only its own family

    req = containers.PullRequest(ref)
    run(lambda: with_progress(f"pulling {ref}", as_json, lambda cb: containers.docker_pull(req, cb)), as_json,
        lambda r: render().out().print(f"pulled {ref}; run it: mambaenv docker run ./project --image {ref}", markup=False))


def app_for(argv: list[str]) -> typer.Typer:
    """The app holding only the command that ``argv`` names, when it names one; else the whole app.

    typer turns every command's signature into click options before it parses anything (about a millisecond a
    command): building the one command asked for keeps a resolve as quick as the catalog allows. --help, a typo or
    no command at all get the whole app, so what they print is unchanged."""
    name = argv[0] if argv else None
    commands = [c for c in app.registered_commands if (c.name or typer.main.get_command_name(c.callback.__name__)) == name]
    groups = [g for g in app.registered_groups if g.name == name]
    if not (commands or groups):
        return app
    one = root_app()
    one.registered_callback = app.registered_callback
    one.registered_commands = commands
    one.registered_groups = groups
    return one


def main() -> None:
    try:
        app_for(sys.argv[1:])()
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(ExitCode.INTERRUPTED)
