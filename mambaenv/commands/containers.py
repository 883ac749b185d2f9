"""docker build and docker run: an image with the wheels (fetched or built on the host, copied in); a project run in it."""
from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from mambaenv import docker as d
from mambaenv.bundle import download_dependencies, open_offline_source
from mambaenv.detect.pyenv import choose_python, probe_python
from mambaenv.download import fetch_to
from mambaenv.errors import BadInput, ExitCode, MambaenvError
from mambaenv.packages import DEFAULT, of_filename
from mambaenv.plan import FILE_ORIGINS, PlanRequest, plan
from mambaenv.render import err, escape, status_line
from mambaenv.target import Target


@dataclass(frozen=True)
class DockerBuildRequest:
    tag: str  # name:tag for the image (the CLI's default: mambaenv-mamba:latest)
    base_image: str | None = None  # default: an official PyTorch image for the target env
    wheels: tuple[str, ...] = ()
    bundle: str | None = None
    requirements: str | None = None
    network: str = "none"
    python: str | None = None
    env: str | None = None
    force: bool = False
    quiet: bool = False
    wheelhouses: tuple[str, ...] = ()
    no_third_party: bool = False


@dataclass
class DockerBuildResult:
    built: dict  # image, base, python, torch, ... (from docker.build_image)
    sources: list[dict] = field(default_factory=list)
    exit_code = ExitCode.OK

    def to_dict(self) -> dict:
        return dict(self.built, sources=self.sources)


def docker_build(req: DockerBuildRequest) -> DockerBuildResult:
    cb, ctx = status_line(req.quiet)
    base_image = req.base_image
    with ctx, tempfile.TemporaryDirectory(prefix="mambaenv-dsrc-") as tmp:
        if not base_image:
            target = probe_python(choose_python(req.python, req.env)).target()
            base_image = d.base_image_for(target.torch_major_minor, target.ngc_version)
        paths = [_given_wheel(w) for w in req.wheels]
        if req.bundle:
            pkgs, dirs = open_offline_source(Path(req.bundle), Path(tmp))
            paths = pkgs + [p for p in dirs[0].glob("*.whl") if p not in pkgs]
        target, sources = None, []
        if not paths:
            target = d.probe_image(d.client(), base_image)
            paths = _wheels_for_image(target, Path(tmp), req.quiet, list(req.wheelhouses), sources, req.no_third_party)
            download_dependencies(paths, target, Path(tmp), None, [])
            paths += [p for p in Path(tmp).glob("*.whl") if p not in paths]
        pkgs = [p for p in paths if of_filename(p.name)]
        if not pkgs:
            # an image without the kernels builds fine and fails only at the user's first import
            raise BadInput("no mamba_ssm or causal_conv1d wheel among the wheels for the image: " + (", ".join(p.name for p in paths) or "none"),
                           "add --wheel mamba_ssm-*.whl (and causal_conv1d), or --bundle, or leave both out to resolve them for the base image")
        extra = [p for p in paths if p not in pkgs]
        requirements = Path(req.requirements) if req.requirements else None
        built = d.build_image(base_image, pkgs, req.tag, requirements, extra, req.force, req.network, cb, target)
        return DockerBuildResult(built, sources)


def _given_wheel(text: str) -> Path:
    """A --wheel argument: an existing .whl file, or one line saying what it is instead."""
    path = Path(text)
    if not path.is_file():
        raise BadInput(f"--wheel {text}: no such file" + (" (it is a folder)" if path.is_dir() else ""), "give the path of a .whl file")
    if path.suffix != ".whl":
        raise BadInput(f"--wheel {text} is not a wheel (.whl)", "give the mamba_ssm / causal_conv1d .whl files, or --bundle FILE")
    return path


def _wheels_for_image(target, dest, quiet, wheelhouses=None, sources=None, no_third_party=False):
    """The plan for the image's env (its facts probed from the image): local builds, wheelhouses, then upstream."""
    answer = plan(PlanRequest.configured(Target(target), DEFAULT, wheelhouses=wheelhouses or (), no_third_party=no_third_party,
                                         origins=FILE_ORIGINS))
    for p in answer.missing():
        raise MambaenvError(f"no {p.package} wheel for the image: {p.reason}", "mambaenv build in a matching env, then --wheel FILE")
    if sources is not None:
        sources += [p.source_record() for p in answer.packages]
    return [fetch_to(w.url, dest, sha256=w.sha256, size=w.size, show_progress=not quiet)[1] for w in answer.require()]


@dataclass(frozen=True)
class DockerRunRequest:
    project: str
    image: str  # made by docker build
    command: tuple[str, ...] = ()  # default: an interactive shell
    gpus: str = "all"
    read_only: bool = False
    detach: bool = False
    network: str | None = None
    shm_size: str = "8g"
    name: str | None = None
    user: str | None = None
    quiet: bool = False


@dataclass
class DockerRunResult:
    raw: dict  # exit_code; detached, name, container for --detach; output when captured

    def to_dict(self) -> dict:
        return self.raw

    @property
    def exit_code(self) -> int:
        """The container's own exit status, passed through (0 when detached)."""
        return self.raw.get("exit_code", 0)


def docker_run(req: DockerRunRequest) -> DockerRunResult:
    command = list(req.command)
    opts = d.run_options(Path(req.project), req.image, req.gpus, req.read_only, req.detach, command, req.network, req.shm_size,
                         req.name, req.user)
    for w in opts["warnings"]:
        err().print(f"[yellow]warning:[/] {escape(w)}", soft_wrap=True)
    if not command and not req.detach:
        if not Path(req.project).is_dir():
            raise d.DockerError(f"no such project folder: {req.project}", "give the folder to mount at /workspace")
        d.check_gpu_runtime(d.client(), req.gpus, req.image)
        if not sys.stdin.isatty():
            raise d.DockerError("an interactive shell needs a terminal", "give a command after --, or --detach")
        return DockerRunResult({"exit_code": d.exec_cli(d.cli_args(opts, interactive=True))})
    return DockerRunResult(d.run_container(opts, None if not req.quiet else (lambda s: None)))
