"""mambaenv docker: build an image with the wheels copied in (no network needed), run a project in it, manage it,
on Docker or Podman (mambaenv/engines; the engine is chosen in detect/docker_engine.py).

Decisions (the run's options, GPUs, which folders may be mounted) are functions of facts; the engine is asked at the
edges. Containers mambaenv creates carry its label and are recorded by id in the cache, and only those are stopped,
removed or committed: a label alone can be put on any container.
"""
from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Iterator

from mambaenv.detect.driver_cuda import compat_floor, driver_runs, min_driver_for_cuda
from mambaenv.detect.engine_facts import DockerFacts, cdi_names
from mambaenv.detect.pyenv import PyEnvFacts, probe_source
from mambaenv.engines import EngineOperationError, RunSpec
from mambaenv.errors import BadInput, DockerError, ExitCode
from mambaenv.imageref import parse_ref
from mambaenv.wheel import inspect_wheel, mismatches, verify_catalog_digest

LABEL = "org.mambaenv.managed"
LABEL_PROJECT = "org.mambaenv.project"
LABEL_CUDA = "org.mambaenv.cuda"
DEFAULT_SHM = "8g"  # PyTorch DataLoader workers share tensors through /dev/shm; Docker's default is 64 MB
CHUNK = 1024 * 1024

# Official PyTorch images (Docker Hub pytorch/pytorch) by torch major.minor; --base-image overrides. Fully qualified:
# Podman refuses to guess a registry for a short name, and Docker reads docker.io/ as it reads no domain.
PYTORCH_IMAGES = {
    "2.0": ("2.0.1", "11.7", "cudnn8"), "2.1": ("2.1.2", "12.1", "cudnn8"), "2.2": ("2.2.2", "12.1", "cudnn8"),
    "2.3": ("2.3.1", "12.1", "cudnn8"), "2.4": ("2.4.1", "12.4", "cudnn9"), "2.5": ("2.5.1", "12.4", "cudnn9"),
    "2.6": ("2.6.0", "12.6", "cudnn9"), "2.7": ("2.7.1", "12.8", "cudnn9"), "2.8": ("2.8.0", "12.9", "cudnn9"),
    "2.9": ("2.9.1", "13.0", "cudnn9"),
}


# --- the engine ---------------------------------------------------------------------------------------------------

def engine(timeout: int = 60, env: dict | None = None):
    """The chosen engine (Docker or Podman, API or CLI), connected; one line with the fix when there is none."""
    from mambaenv.detect.docker_engine import detect_engine  # start-up: engine discovery loads only for docker commands

    facts = detect_engine(timeout=min(timeout, 10), env=env)
    if not facts.reachable:
        raise DockerError(f"cannot reach a container engine{_where(facts)} ({(facts.note or 'no answer').split(': ', 1)[-1]})", _reach_fix(facts))
    if facts.via == "cli":
        from mambaenv.engines.podman_cli import PodmanCli  # start-up: the engine's module loads once it is chosen

        eng = PodmanCli(facts.address, facts.rootless, facts.selinux)
    else:
        from mambaenv.engines.api import ApiEngine  # start-up: the Docker SDK loads only when an API engine is used

        try:
            eng = ApiEngine(facts.kind, facts.address, timeout, facts.rootless, facts.selinux)
        except Exception as e:
            raise DockerError(f"cannot reach the {facts.kind} engine at {facts.address} ({type(e).__name__})", _reach_fix(facts)) from None
    eng.facts = facts
    return eng


def _where(facts: DockerFacts) -> str:
    return f" ({facts.kind} at {facts.address}, {facts.chosen_by})" if facts.address else ""


def _reach_fix(facts: DockerFacts) -> str:
    if facts.kind == "podman":
        return "start Podman's API (podman system service --time=0 &), or use its CLI with --engine podman-cli"
    return ("start Docker (sudo systemctl start docker), add yourself to the docker group, set DOCKER_HOST, "
            "or use Podman with --engine podman")


def _engine_said(e: EngineOperationError) -> str:
    return str(e).strip().splitlines()[-1][:300] if str(e).strip() else type(e).__name__


def require_local_image(eng, image: str, role: str = "image") -> None:
    """Never pull: a server that cannot reach a registry must be told so, not left hanging on a pull."""
    if eng.image(image) is not None:
        return
    if role == "base":
        raise DockerError(f"base image {image} is not on this machine",
                          f"where a registry is reachable: {eng.kind} pull {image}; or bring it as a file: "
                          f"{eng.kind} save {image} -o base.tar there, mambaenv docker load base.tar here")
    raise DockerError(f"image {image} is not on this machine",
                      "build it with mambaenv docker build, or where a registry is reachable: mambaenv docker save IMAGE -o f.tar.gz, "
                      "copy f.tar.gz here, mambaenv docker load f.tar.gz")


def local_name(eng, name: str, what: str = "image name") -> str:
    """The name an image mambaenv makes (build, commit) is stored under. Podman's CLI keeps a short name as
    localhost/NAME while its Docker-compatible API makes it docker.io/library/NAME (checked on 4.3.1); naming it
    localhost/NAME here makes both the same, and never a Docker Hub name for an image that came from no registry."""
    ref = parse_ref(name, what)
    return str(ref.for_podman()) if eng.kind == "podman" else name


def base_image_for(torch_mm: str | None, ngc_version: str | None = None) -> str:
    if ngc_version:
        return f"nvcr.io/nvidia/pytorch:{ngc_version}-py3"
    if torch_mm not in PYTORCH_IMAGES:
        raise DockerError(f"no known official PyTorch image for torch {torch_mm}", "give one with --base-image IMAGE")
    ver, cuda, cudnn = PYTORCH_IMAGES[torch_mm]
    return f"docker.io/pytorch/pytorch:{ver}-cuda{cuda}-{cudnn}-runtime"


def dockerfile_text() -> str:
    return resources.files("mambaenv.dockerfiles").joinpath("Dockerfile").read_text()


# --- build --------------------------------------------------------------------------------------------------------

def probe_image(eng, image: str):
    """Run mambaenv's probe inside the image (no network) and return its target-env facts."""
    require_local_image(eng, image, "base")
    code, out = run_captured(eng, image, ["python3", "-c", probe_source()])
    answer = next((line for line in reversed(out.splitlines()) if line.startswith("{")), None)
    if code != 0 or answer is None:
        raise DockerError(f"cannot probe {image}: {(out.strip().splitlines() or ['python3 did not run'])[-1][:200]}",
                          "the base image needs python3 (3.7 or newer) on its PATH")
    facts = PyEnvFacts(f"{image}:python3", json.loads(answer))
    return facts.target(env_vars=eng.image(image).env)


def run_captured(eng, image: str, command: list[str], timeout: float = 120) -> tuple[int, str]:
    """A command in a throwaway container with networking off: its exit code and output."""
    try:
        cid = eng.create(RunSpec(image, tuple(command), source=None, network="none", shm_size="64m"))
    except EngineOperationError as e:
        raise DockerError(f"cannot start a container of {image}: {_engine_said(e)}", _run_fix(e)) from None
    try:
        eng.start(cid)
        code = eng.wait(cid, timeout)
        return code, eng.logs(cid).decode(errors="replace")
    except EngineOperationError as e:
        raise DockerError(f"cannot run a container of {image}: {_engine_said(e)}", _run_fix(e)) from None
    finally:
        _quietly(eng.remove, cid, True)


def build_image(eng, base_image: str, wheels: list[Path], tag: str, requirements: Path | None = None, extra_wheels: list[Path] = (),
                force: bool = False, network: str = "none", status=None, target=None) -> dict:
    """Check the wheels against the base image (``target``: its facts, when already probed), lay out a context, build offline."""
    tag = local_name(eng, tag, "--tag")
    target = target or probe_image(eng, base_image)
    for w in wheels:
        verify_catalog_digest(w)
        problems = mismatches(inspect_wheel(w), target)
        if problems and not force:
            raise DockerError(f"{w.name} does not fit {base_image}: {problems[0]}", "use wheels resolved for the image, or --force")
    with tempfile.TemporaryDirectory(prefix="mambaenv-docker-") as tmp:
        ctx = _build_context(Path(tmp), list(wheels) + list(extra_wheels), requirements)
        labels = {LABEL: "true", LABEL_CUDA: target.torch_cuda or "", "org.mambaenv.base": base_image}
        logs = []
        try:
            for line in eng.build(str(ctx), tag, {"BASE_IMAGE": base_image}, labels, network):
                logs.append(line)
                if status:
                    status(f"building {tag}: {line[:100]}")
        except EngineOperationError as e:
            raise DockerError(f"{eng.kind} build failed: {_engine_said(e)}",
                              "the wheels folder must hold every dependency (use a bundle), since the build has no network") from None
    built = eng.image(tag)
    return {"image": tag, "id": built.id if built else None, "base": base_image, "python": target.python, "torch": target.torch,
            "engine": eng.kind, "log_tail": logs[-5:]}


def _build_context(ctx: Path, wheels: list[Path], requirements: Path | None) -> Path:
    (ctx / "wheels").mkdir()
    for w in wheels:
        shutil.copy(w, ctx / "wheels" / Path(w).name)
    (ctx / "requirements.txt").write_text(Path(requirements).read_text() if requirements else "")
    (ctx / "Dockerfile").write_text(dockerfile_text())
    return ctx


# --- run: decisions -----------------------------------------------------------------------------------------------

def check_gpus(gpus: str) -> str:
    """``all``, ``none``, a count, or device ids (indexes, GPU-/MIG- UUIDs) separated by commas; anything else refused."""
    import re  # start-up: only docker run checks --gpus

    g = (gpus or "").strip()
    one = r"(?:\d+|GPU-[0-9a-fA-F-]+|MIG-[0-9a-zA-Z/-]+)"
    if g in ("all", "none") or (g.isdigit() and int(g) > 0) or re.fullmatch(rf"{one}(?:,{one})*", g):
        return g
    raise DockerError(f"malformed --gpus value {gpus!r}", "use all, none, a count such as 2, or device ids such as 0,1 or GPU-<uuid>")


def check_cdi_device(name: str) -> str:
    """A CDI device name, ``vendor.com/class=name`` (the CDI spec's grammar, e.g. nvidia.com/gpu=all)."""
    import re  # start-up: only docker run checks --device

    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.-]*\.[A-Za-z]+/[A-Za-z0-9][A-Za-z0-9_.-]*=[A-Za-z0-9][A-Za-z0-9_.:-]*", name or ""):
        return name
    raise DockerError(f"malformed --device {name!r}", "give a CDI device as vendor.com/class=name, e.g. nvidia.com/gpu=all")


# Mounting one of these at /workspace hands the container (root inside, often) the system; refused outright.
SYSTEM_ROOTS = ("/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32", "/opt", "/proc", "/root", "/run",
                "/sbin", "/srv", "/sys", "/usr", "/var", "/tmp", "/mnt", "/media", "/var/run", "/var/lib", "/usr/local", "/var/lib/docker",
                "/var/lib/containers")


def check_project(project: Path, engine_sockets: tuple[str, ...] = ()) -> tuple[Path, list[str]]:
    """The real folder behind ``project`` (symlinks followed) and warnings. Refused: a system folder, and any folder
    that holds an engine's socket (whoever can write to that socket is root on the host)."""
    real = Path(os.path.realpath(project))
    if str(real) in SYSTEM_ROOTS and real != Path.home():  # root's home is /root: warned about below, as any home
        what = "the root folder /" if real == Path("/") else f"the system folder {real}"
        raise DockerError(f"{project} is {what} (after following symlinks); mounting it would expose the whole system",
                          "give the project's own folder")
    for sock in engine_sockets:
        real_sock = Path(os.path.realpath(sock))
        if real_sock == real or real in real_sock.parents:
            raise DockerError(f"{project} holds the container engine's socket {sock}; a container with it is root on this machine",
                              "give the project's own folder")
    warnings = []
    if real == Path.home() or real.parent == Path("/home"):
        warnings.append(f"{real} is a home folder; all of it is mounted at /workspace (give the project's own folder, or --read-only)")
    return real, warnings


def engine_sockets(facts: DockerFacts | None) -> tuple[str, ...]:
    """The engine's own socket and the usual ones: a project that holds any of them is refused."""
    from mambaenv.detect.engine_facts import DEFAULT_SOCKET, PODMAN_ROOTFUL_SOCKET  # start-up: with the run's decisions

    found = [DEFAULT_SOCKET, PODMAN_ROOTFUL_SOCKET]
    addresses = [facts.address if facts else None, os.environ.get("DOCKER_HOST"), os.environ.get("CONTAINER_HOST")]
    found += ["/" + a.strip()[len("unix://"):].lstrip("/") for a in addresses if a and a.strip().startswith("unix://")]
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    found += [f"{runtime}/podman/podman.sock", f"{runtime}/docker.sock"] if runtime else []
    return tuple(found)


@dataclass(frozen=True)
class RunRequestFacts:
    """What a run asks for, before the engine's facts turn it into a RunSpec."""

    project: Path
    image: str
    gpus: str = "all"
    devices: tuple[str, ...] = ()  # CDI devices beyond the GPUs
    read_only: bool = False
    command: tuple[str, ...] = ()
    network: str | None = None
    shm_size: str = DEFAULT_SHM
    name: str | None = None
    user: str | None = None
    interactive: bool = False


def run_spec(ask: RunRequestFacts, facts: DockerFacts, uid: int | None = None, gid: int | None = None) -> tuple[RunSpec, list[str]]:
    """The container for ``ask`` on the engine ``facts`` describes, and the warnings to show. Podman rootless keeps the
    caller's uid inside (``--userns=keep-id``), so files made in /workspace are the caller's; elsewhere the run is
    ``--user uid:gid``. SELinux hosts get the mount relabelled ``z`` (shared: a detached container and a foreground
    run of the same project both keep access; ``Z`` would lock out the first)."""
    source, warnings = check_project(ask.project, engine_sockets(facts))
    uid = os.getuid() if uid is None else uid
    gid = os.getgid() if gid is None else gid
    keep_id = facts.kind == "podman" and facts.rootless
    gpus, devices = check_gpus(ask.gpus), tuple(check_cdi_device(d) for d in ask.devices)
    spec = RunSpec(ask.image, tuple(ask.command), str(source), ask.read_only, "z" if facts.selinux else None,
                   ask.user or (None if keep_id else f"{uid}:{gid}"), "keep-id" if keep_id else None, ask.shm_size,
                   {LABEL: "true", LABEL_PROJECT: str(source)}, {"HOME": "/tmp"},  # the caller's uid has no home in the image
                   network=ask.network, name=ask.name, interactive=ask.interactive)
    return _with_devices(spec, gpus, devices, facts), warnings


def _with_devices(spec: RunSpec, gpus: str, devices: tuple[str, ...], facts: DockerFacts) -> RunSpec:
    cdi_ok = facts.kind == "podman" or bool(facts.cdi_dirs)
    if devices and not cdi_ok:
        raise DockerError(f"Docker {facts.server_version} cannot pass CDI devices such as {devices[0]}",
                          'Docker 25 or newer reads CDI specs (with "features": {"cdi": true} in /etc/docker/daemon.json), or use Podman')
    if gpus == "none":
        return replace(spec, cdi_devices=devices)
    if facts.gpu_method is None:
        cdi = f"no CDI spec for {facts.gpu_kind} in {', '.join(facts.cdi_dirs)}" if facts.cdi_dirs else "no CDI"
        why = cdi if facts.kind == "podman" else f"no NVIDIA runtime, {cdi}"
        engine = "Podman" if facts.kind == "podman" else f"Docker {facts.server_version}"
        raise DockerError(f"GPUs cannot reach {engine}'s containers here ({why})", f"{facts.gpu_fix} (or run with --gpus none)")
    if facts.gpu_method == "cdi":
        return replace(spec, cdi_devices=tuple(cdi_names(gpus, facts.gpu_kind)) + devices)
    return replace(spec, gpu_requests=gpus, cdi_devices=devices)


def check_driver_for_image(eng, image: str) -> None:
    """The host driver must run the image's CUDA (NVIDIA's minor-version compatibility floor, as doctor judges it)."""
    from mambaenv.detect.host import detect_nvidia  # start-up: NVML loads only when a GPU run is asked for

    info = eng.image(image)
    cuda = (info.labels.get(LABEL_CUDA) or info.env.get("CUDA_VERSION", "")) if info else ""
    driver = detect_nvidia().driver
    if cuda and driver and not driver_runs(driver, cuda)[0]:
        raise DockerError(f"the host driver {driver} is too old for the image's CUDA {cuda}",
                          f"upgrade the driver to >= {compat_floor(cuda) or min_driver_for_cuda(cuda)} or use an image with an older CUDA")


def _run_fix(e: EngineOperationError) -> str:
    """The fix for a container that would not start, from the engine's words."""
    said = str(e).lower()
    if "rlimit" in said and "not permitted" in said:
        return ("this machine does not let the engine raise resource limits (no CAP_SYS_RESOURCE, e.g. inside another container): "
                "for Podman put default_ulimits = [] under [containers] in /etc/containers/containers.conf")
    if "executable file not found" in said or "no such file or directory" in said:
        return "check the command after -- (is it installed in the image?)"
    return "check the image name and the options (mambaenv docker ps lists yours)"


# --- run: the container ---------------------------------------------------------------------------------------------

@dataclass
class RunOutcome:
    container: str  # short id
    name: str | None = None
    detached: bool = False
    exit_code: int = ExitCode.OK
    output: str | None = None


def run_container(eng, spec: RunSpec, detach: bool, show=None) -> RunOutcome:
    """Create, record, start; a foreground run streams its output (``show``: where each piece goes) and is removed
    when it ends, fails to start, or is interrupted: no container of a failed run is left behind."""
    require_local_image(eng, spec.image)
    if spec.gpu_requests or spec.cdi_devices:
        check_driver_for_image(eng, spec.image)
    try:
        cid = eng.create(spec)
    except EngineOperationError as e:
        raise DockerError(f"{eng.kind} run failed: {_engine_said(e)}", _run_fix(e)) from None
    record(cid)
    done = False
    try:
        eng.start(cid)
        if detach:
            done = True
            info = eng.container(cid)
            return RunOutcome(cid[:12], info.name if info else spec.name, detached=True)
        return _follow(eng, cid, show)
    except EngineOperationError as e:
        raise DockerError(f"{eng.kind} run failed: {_engine_said(e)}", _run_fix(e)) from None
    finally:
        if not done:
            _quietly(eng.remove, cid, True)
            forget(cid)


def _follow(eng, cid: str, show) -> RunOutcome:
    show = show or (lambda text: print(text, end="", flush=True))
    out = []
    for chunk in eng.follow_logs(cid):
        out.append(chunk.decode(errors="replace"))
        show(out[-1])
    code = eng.wait(cid)
    if not out:  # a command that ends before the log stream attaches can leave the stream empty: read the logs once more
        text = eng.logs(cid).decode(errors="replace")
        if text:
            out.append(text)
            show(text)
    return RunOutcome(cid[:12], exit_code=code, output="".join(out))


def run_interactive(eng, spec: RunSpec) -> int:
    """A terminal in a new container: created and recorded like any run, then handed to the engine's CLI to attach."""
    binary = eng.terminal_command()
    if not shutil.which(binary[0]):
        raise DockerError(f"an interactive shell needs the {binary[0]} CLI", f"install {binary[0]}'s client, or give a command after --")
    require_local_image(eng, spec.image)
    try:
        cid = eng.create(replace(spec, interactive=True, command=spec.command or ("bash",)))
    except EngineOperationError as e:
        raise DockerError(f"{eng.kind} run failed: {_engine_said(e)}", _run_fix(e)) from None
    record(cid)
    try:
        return subprocess.call(binary + ["start", "--attach", "--interactive", cid])
    finally:
        _quietly(eng.remove, cid, True)
        forget(cid)


def _quietly(call, *args) -> None:
    try:
        call(*args)
    except (EngineOperationError, OSError):
        pass


# --- which containers are mambaenv's: the label, and the id recorded when mambaenv made it ------------------------

def _records() -> Path:
    from mambaenv.config import cache_dir  # start-up: the cache folder is found only when a container is recorded

    path = cache_dir() / "containers"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _record_name(cid: str) -> str:
    if not (len(cid) == 64 and all(c in "0123456789abcdef" for c in cid)):
        raise DockerError(f"the engine gave a malformed container id {cid[:80]!r}", "check the engine (docker/podman ps)")
    return cid


def record(cid: str) -> None:
    (_records() / _record_name(cid)).touch()


def forget(cid: str) -> None:
    (_records() / _record_name(cid)).unlink(missing_ok=True)


def recorded(cid: str) -> bool:
    return (_records() / _record_name(cid)).is_file()


def ours(eng, ref: str):
    info = eng.container(ref)
    if info is None:
        raise DockerError(f"no container {ref!r}", "mambaenv docker ps lists mambaenv's containers")
    if info.labels.get(LABEL) != "true" or not recorded(info.id):
        raise DockerError(f"{ref} is not a mambaenv container (mambaenv did not start it here; a label alone does not make it one)",
                          f"manage it with {eng.kind} itself")
    return info


def list_containers(eng) -> list[dict]:
    return [{"id": c.short_id, "name": c.name, "status": c.status, "image": c.image, "project": c.labels.get(LABEL_PROJECT)}
            for c in eng.containers(f"{LABEL}=true") if recorded(c.id)]


def stop(eng, ref: str) -> None:
    eng.stop(ours(eng, ref).id)


def remove(eng, ref: str, force: bool = False) -> None:
    info = ours(eng, ref)
    try:
        eng.remove(info.id, force)
    except EngineOperationError as e:
        raise DockerError(f"cannot remove {ref}: {_engine_said(e)}", "stop it first (mambaenv docker stop), or rm --force") from None
    forget(info.id)


def commit(eng, ref: str, tag: str) -> str:
    target = parse_ref(local_name(eng, tag))
    if target.digest:
        raise BadInput(f"image name {tag!r} holds a digest; a new image gets a tag", "give NAME[:TAG]")
    info = ours(eng, ref)
    return eng.commit(info.id, target.name, target.tag_or_latest, {LABEL: "true"})


def attach(eng, ref: str) -> None:
    info = ours(eng, ref)
    binary = eng.terminal_command()
    if not shutil.which(binary[0]):
        raise DockerError(f"attach needs the {binary[0]} CLI", f"install {binary[0]}'s client")
    os.execvp(binary[0], binary + ["attach", info.id])


# --- images as files: save and load, streamed -----------------------------------------------------------------------

def save(eng, ref: str, output: Path, progress=None) -> int:
    """The image as a docker-save tar (gzip when OUTPUT ends in .gz), written to a fresh temporary file beside OUTPUT
    and renamed over it: nothing planted at a fixed temporary name is followed, and a failed save leaves nothing."""
    info = eng.image(ref)
    if info is None:
        raise DockerError(f"no image {ref!r} here", f"{eng.kind} images lists them")
    ref = stored_name(ref, info.tags)
    output = Path(output)
    fd, tmp = tempfile.mkstemp(prefix=f".{output.name[:200]}.", suffix=".part", dir=output.parent)
    total = 0
    try:
        with os.fdopen(fd, "wb") as raw, (gzip.GzipFile(fileobj=raw, mode="wb") if output.suffix == ".gz" else raw) as f:
            for chunk in eng.save(ref):
                f.write(chunk)
                total += len(chunk)
                if progress:
                    progress(total, None)
        os.chmod(tmp, 0o644)
        os.replace(tmp, output)
    except EngineOperationError as e:
        raise DockerError(f"{eng.kind} save of {ref} failed: {_engine_said(e)}", "check the disk space and the image") from None
    finally:
        Path(tmp).unlink(missing_ok=True)
    return total


def stored_name(ref: str, tags: tuple[str, ...]) -> str:
    """The engine's own full name for ``ref``: Podman keeps what it builds as localhost/NAME, and an archive saved
    under the short name would load back as docker.io/library/NAME (checked on Podman 4.3.1)."""
    return next((t for t in tags if t == ref or t.endswith("/" + ref)), ref)


def _file_chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
    with (gzip.open if gzipped else open)(path, "rb") as f:
        while chunk := f.read(CHUNK):
            yield chunk


def load(eng, path: Path) -> list[str]:
    """Stream the file (gzip or plain) to the engine a MiB at a time: a 2 GiB image never sits in memory."""
    path = Path(path)
    if not path.is_file():
        raise DockerError(f"no such file: {path}", "give the file made by mambaenv docker save (or docker save)")
    try:
        return eng.load(_file_chunks(path))
    except (EngineOperationError, OSError, EOFError, gzip.BadGzipFile) as e:
        raise DockerError(f"{eng.kind} load failed: {str(e)[:200]}", "the file must come from docker save or podman save") from None


# --- registries: push and pull, for labs that run one (save/load stay for air gaps) -------------------

def registry_ref(image: str, registry: str) -> tuple[str, str]:
    """``mambaenv-mamba:latest`` + ``HOST:PORT`` -> (``HOST:PORT/mambaenv-mamba``, ``latest``); a registry host already
    in the name is replaced, so an image pulled from one registry can be pushed to another."""
    host = registry.strip().strip("/")
    if "://" in registry or "/" in host or not host or parse_ref(f"{host}/x").domain != host:
        raise DockerError(f"malformed registry {registry!r}", "give it as HOST:PORT, e.g. --registry registry.lab:5000")
    ref = parse_ref(image)
    return ref.with_domain(host).name, ref.tag_or_latest


def split_ref(ref: str) -> tuple[str, str]:
    """``host:5000/a/b:tag`` -> (``host:5000/a/b``, ``tag``); no tag means ``latest``; a digest stays with the name."""
    parsed = parse_ref(ref)
    if parsed.digest:
        return f"{parsed.name}@{parsed.digest}", ""
    return parsed.name, parsed.tag_or_latest


class _LayerProgress:
    """Docker reports progress per layer; the bar shows their sum."""

    def __init__(self, progress):
        self.progress = progress
        self.layers: dict[str, tuple[int, int]] = {}

    def feed(self, line: dict) -> None:
        detail = line.get("progressDetail") or {}
        if line.get("id") and detail.get("total"):
            self.layers[line["id"]] = (detail.get("current", 0), detail["total"])
        if self.progress and self.layers:
            self.progress(sum(c for c, _ in self.layers.values()), sum(t for _, t in self.layers.values()))


def _stream(ask, progress, action: str, ref: str, fix: str) -> dict:
    """``ask()``: the engine's progress lines of a push or pull; an error anywhere is one line with ``fix``."""
    meter, last = _LayerProgress(progress), {}
    try:
        for line in ask():
            if line.get("error"):
                raise DockerError(f"docker {action} of {ref} failed: {str(line['error']).strip()[:300]}", fix)
            meter.feed(line)
            if line.get("aux"):
                last = line["aux"]
            if line.get("status", "").startswith("Digest:"):
                last.setdefault("Digest", line["status"].split(":", 1)[1].strip())
    except EngineOperationError as e:
        raise DockerError(f"docker {action} of {ref} failed: {_engine_said(e)}", fix) from None
    return last


def push(eng, image: str, registry: str, progress=None) -> dict:
    """Tag IMAGE as REGISTRY/name:tag and push it; the answer carries the reference others pull and its digest."""
    repo, tag = registry_ref(image, registry)
    require_local_image(eng, image)
    eng.tag(image, repo, tag)
    fix = (f"check that a registry answers at {registry} (curl http://{registry}/v2/); a registry without TLS must be in dockerd's "
           "insecure-registries (127.0.0.0/8 is by default) or in registries.conf as insecure for Podman")
    aux = _stream(lambda: eng.push(repo, tag), progress, "push", f"{repo}:{tag}", fix)
    return {"image": image, "pushed": f"{repo}:{tag}", "digest": aux.get("Digest"), "size": aux.get("Size")}


def pull(eng, ref: str, progress=None) -> dict:
    """Pull REF (HOST:PORT/name:tag) from a registry; the answer carries the local image id."""
    repo, tag = split_ref(ref)
    fix = "check the reference (mambaenv docker push prints it) and that the registry answers; without a registry use save/load"
    aux = _stream(lambda: eng.pull(repo, tag or None), progress, "pull", ref, fix)
    image = eng.image(ref)
    if image is None:
        raise DockerError(f"docker pull of {ref} failed: the image is not here afterwards", fix)
    return {"image": ref, "id": image.id, "digest": aux.get("Digest")}
