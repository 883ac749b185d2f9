"""mambaenv docker ...: an image with the wheels (fetched or built on the host, copied in), a project run in it, the
containers and images managed, moved by file or registry, turned into an Apptainer image. One request in, one typed
result out (``to_dict``: the --json shape); the engine (Docker or Podman) is chosen in mambaenv/docker.py."""
from __future__ import annotations

import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Optional

from mambaenv import docker as d
from mambaenv.bundle import download_dependencies, open_offline_source
from mambaenv.detect.pyenv import choose_python, probe_python
from mambaenv.download import fetch_to
from mambaenv.errors import BadInput, ExitCode, MambaenvError
from mambaenv.imageref import parse_ref
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
        eng = d.engine(timeout=600)
        if not base_image:
            target = probe_python(choose_python(req.python, req.env)).target()
            base_image = d.base_image_for(target.torch_major_minor, target.ngc_version)
        paths = [_given_wheel(w) for w in req.wheels]
        if req.bundle:
            pkgs, dirs = open_offline_source(Path(req.bundle), Path(tmp))
            paths = pkgs + [p for p in dirs[0].glob("*.whl") if p not in pkgs]
        target, sources = None, []
        if not paths:
            target = d.probe_image(eng, base_image)
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
        built = d.build_image(eng, base_image, pkgs, req.tag, requirements, extra, req.force, req.network, cb, target)
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
    devices: tuple[str, ...] = ()  # CDI devices (vendor.com/class=name) beyond the GPUs


@dataclass
class DockerRunResult:
    container: str | None = None  # short id; None for an interactive shell (the engine's CLI had the terminal)
    exit_code: int = ExitCode.OK  # the container's own exit status, passed through (0 when detached)
    name: str | None = None
    detached: bool = False
    output: str | None = None

    def to_dict(self) -> dict:
        if self.detached:
            return {"container": self.container, "name": self.name, "detached": True}
        if self.container is None:
            return {"exit_code": self.exit_code}
        return {"container": self.container, "exit_code": self.exit_code, "output": self.output}


def docker_run(req: DockerRunRequest) -> DockerRunResult:
    interactive = not req.command and not req.detach
    if interactive and not sys.stdin.isatty():
        raise d.DockerError("an interactive shell needs a terminal", "give a command after --, or --detach")
    ask = d.RunRequestFacts(Path(req.project), req.image, req.gpus, tuple(req.devices), req.read_only, tuple(req.command), req.network,
                            req.shm_size, req.name, req.user, interactive)
    # refused before any engine is asked: a system folder, a malformed --gpus, --device or image name
    d.check_project(Path(req.project), d.engine_sockets(None))
    d.check_gpus(req.gpus)
    [d.check_cdi_device(x) for x in req.devices]
    parse_ref(req.image, "--image")
    if not Path(req.project).is_dir():
        raise d.DockerError(f"no such project folder: {req.project}", "give the folder to mount at /workspace")
    eng = d.engine()
    spec, warnings = d.run_spec(ask, eng.facts)
    for w in warnings:
        err().print(f"[yellow]warning:[/] {escape(w)}", soft_wrap=True)
    if interactive:
        return DockerRunResult(exit_code=d.run_interactive(eng, spec))
    out = d.run_container(eng, spec, req.detach, None if not req.quiet else (lambda s: None))
    return DockerRunResult(out.container, out.exit_code, out.name, out.detached, out.output)


# --- the containers and images mambaenv made ------------------------------------------------------------------------

class _Fields:
    """A result whose --json shape is its fields, as they are."""

    exit_code = ExitCode.OK

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ContainerRequest:
    """ps (no container), attach, stop, rm: a container by name or id."""

    container: str | None = None
    force: bool = False


@dataclass
class ContainersResult(_Fields):
    containers: list[dict]



@dataclass
class ContainerActionResult:
    action: str  # stopped | removed
    container: str
    exit_code = ExitCode.OK

    def to_dict(self) -> dict:
        return {self.action: self.container}


def docker_ps(req: ContainerRequest) -> ContainersResult:
    return ContainersResult(d.list_containers(d.engine()))


def docker_attach(req: ContainerRequest) -> None:
    d.attach(d.engine(), req.container)


def docker_stop(req: ContainerRequest) -> ContainerActionResult:
    d.stop(d.engine(), req.container)
    return ContainerActionResult("stopped", req.container)


def docker_rm(req: ContainerRequest) -> ContainerActionResult:
    d.remove(d.engine(), req.container, req.force)
    return ContainerActionResult("removed", req.container)


@dataclass(frozen=True)
class CommitRequest:
    container: str
    tag: str  # NAME[:TAG], read by Docker's reference rules (a registry port's ':' is not a tag)


@dataclass
class ImageResult:
    """An image made or brought here: commit, pull."""

    image: str
    id: str
    digest: str | None = None
    with_digest: bool = False  # pull's --json has "digest"; commit's never had
    exit_code = ExitCode.OK

    def to_dict(self) -> dict:
        return {"image": self.image, "id": self.id, **({"digest": self.digest} if self.with_digest else {})}


def docker_commit(req: CommitRequest) -> ImageResult:
    return ImageResult(req.tag, d.commit(d.engine(), req.container, req.tag))


Progress = Optional[Callable[[int, Optional[int]], None]]


@dataclass(frozen=True)
class SaveRequest:
    image: str
    output: str  # FILE or FILE.gz


@dataclass
class SaveResult(_Fields):
    image: str
    file: str
    bytes: int



def docker_save(req: SaveRequest, progress: Progress = None) -> SaveResult:
    return SaveResult(req.image, req.output, d.save(d.engine(timeout=600), req.image, Path(req.output), progress))


@dataclass(frozen=True)
class LoadRequest:
    file: str


@dataclass
class LoadResult(_Fields):
    images: list[str]



def docker_load(req: LoadRequest) -> LoadResult:
    return LoadResult(d.load(d.engine(timeout=600), Path(req.file)))


@dataclass(frozen=True)
class PushRequest:
    image: str
    registry: str  # HOST:PORT


@dataclass
class PushResult(_Fields):
    image: str
    pushed: str
    digest: str | None
    size: int | None



def docker_push(req: PushRequest, progress: Progress = None) -> PushResult:
    return PushResult(**d.push(d.engine(timeout=600), req.image, req.registry, progress))


@dataclass(frozen=True)
class PullRequest:
    ref: str


def docker_pull(req: PullRequest, progress: Progress = None) -> ImageResult:
    answer = d.pull(d.engine(timeout=600), req.ref, progress)
    return ImageResult(answer["image"], answer["id"], answer["digest"], with_digest=True)


# --- Apptainer: a SIF for clusters that run no container engine ---------------------------------------------------

@dataclass(frozen=True)
class ExportRequest:
    image: str
    sif: str  # the Apptainer image to make (FILE.sif)
    keep_tar: bool = False


@dataclass
class ExportResult:
    image: str
    sif: str | None  # None: no apptainer here, the tar and the commands are for the cluster
    tar: str | None
    apptainer: str | None
    next_steps: list[str]
    exit_code = ExitCode.OK

    def to_dict(self) -> dict:
        return {"image": self.image, "sif": self.sif, "tar": self.tar, "apptainer": self.apptainer, "next": self.next_steps}


def docker_export(req: ExportRequest, progress: Progress = None) -> ExportResult:
    """The image saved as a docker-archive tar beside the SIF, then ``apptainer build SIF docker-archive://TAR`` where
    apptainer (or singularity) exists; else the tar stays and the result says what to run on the cluster."""
    from mambaenv import apptainer  # start-up: only export needs it

    sif = apptainer.check_sif_path(Path(req.sif))
    tar = sif.with_suffix(".tar")
    eng = d.engine(timeout=600)
    d.save(eng, req.image, tar, progress)
    binary = apptainer.find_binary()
    if binary is None:
        return ExportResult(req.image, None, str(tar), None, apptainer.cluster_steps(tar, sif))
    apptainer.build_sif(binary, tar, sif)
    if not req.keep_tar:
        tar.unlink()
    return ExportResult(req.image, str(sif), str(tar) if req.keep_tar else None, binary, apptainer.job_steps(sif))
