"""Docker: build an image with the wheels copied in (no network needed), run a project in it, manage it.

Everything goes through the Docker SDK with the API version negotiated; the interactive cases
(a shell, attach) hand the terminal to the docker CLI, which the SDK cannot do well.
"""
from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import tempfile
from importlib import resources
from pathlib import Path

from mambaenv.detect.driver_cuda import compat_floor, driver_runs, min_driver_for_cuda
from mambaenv.detect.host import detect_nvidia, has_nvidia_runtime
from mambaenv.detect.pyenv import PyEnvFacts, probe_source
from mambaenv.errors import DockerError
from mambaenv.wheel import inspect_wheel, mismatches, verify_catalog_digest

LABEL = "org.mambaenv.managed"
LABEL_PROJECT = "org.mambaenv.project"
LABEL_CUDA = "org.mambaenv.cuda"
DEFAULT_SHM = "8g"  # PyTorch DataLoader workers share tensors through /dev/shm; Docker's default is 64 MB

# Official PyTorch images (docker hub pytorch/pytorch) by torch major.minor; --base-image overrides.
PYTORCH_IMAGES = {
    "2.0": ("2.0.1", "11.7", "cudnn8"), "2.1": ("2.1.2", "12.1", "cudnn8"), "2.2": ("2.2.2", "12.1", "cudnn8"),
    "2.3": ("2.3.1", "12.1", "cudnn8"), "2.4": ("2.4.1", "12.4", "cudnn9"), "2.5": ("2.5.1", "12.4", "cudnn9"),
    "2.6": ("2.6.0", "12.6", "cudnn9"), "2.7": ("2.7.1", "12.8", "cudnn9"), "2.8": ("2.8.0", "12.9", "cudnn9"),
    "2.9": ("2.9.1", "13.0", "cudnn9"),
}




def client(timeout: int = 60):
    """A client for DOCKER_HOST (or the default socket), API version negotiated."""
    try:
        import docker  # start-up: the Docker SDK (and requests) loads only when the engine is used

        c = docker.from_env(version="auto", timeout=timeout)
        c.ping()
        return c
    except Exception as e:
        where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        raise DockerError(f"cannot reach the Docker daemon at {where} ({type(e).__name__})",
                          "start it (sudo systemctl start docker), add yourself to the docker group, or set DOCKER_HOST") from None


def require_local_image(c, image: str) -> None:
    """Never pull: a server that cannot reach a registry must be told so, not left hanging on a pull."""
    try:
        c.images.get(image)
    except Exception:
        raise DockerError(f"image {image} is not on this machine",
                          "build it with mambaenv docker build, or where a registry is reachable: docker save IMAGE | gzip > f.tar.gz, "
                          "copy f.tar.gz here, mambaenv docker load f.tar.gz") from None


def base_image_for(torch_mm: str | None, ngc_version: str | None = None) -> str:
    if ngc_version:
        return f"nvcr.io/nvidia/pytorch:{ngc_version}-py3"
    if torch_mm not in PYTORCH_IMAGES:
        raise DockerError(f"no known official PyTorch image for torch {torch_mm}", "give one with --base-image IMAGE")
    ver, cuda, cudnn = PYTORCH_IMAGES[torch_mm]
    return f"pytorch/pytorch:{ver}-cuda{cuda}-{cudnn}-runtime"


def dockerfile_text() -> str:
    return resources.files("mambaenv.dockerfiles").joinpath("Dockerfile").read_text()


def probe_image(c, image: str):
    """Run mambaenv's probe inside the image (no network) and return its target-env facts."""
    require_local_image(c, image)
    ct = c.containers.run(image, ["python3", "-c", probe_source()], network_mode="none", detach=True)
    try:
        code = ct.wait(timeout=120).get("StatusCode", 1)
        out = ct.logs(stdout=True, stderr=False).decode(errors="replace").strip()
        err = ct.logs(stdout=False, stderr=True).decode(errors="replace").strip()
    finally:
        ct.remove(force=True)
    if code != 0 or not out:
        raise DockerError(f"cannot probe {image}: {(err.splitlines() or ['python3 did not run'])[-1][:200]}",
                          "the base image needs python3 (3.7 or newer) on its PATH")
    facts = PyEnvFacts(f"{image}:python3", json.loads(out.splitlines()[-1]))
    return facts.target(env_vars=_image_env(c, image))


def _image_env(c, image: str) -> dict:
    env = c.images.get(image).attrs.get("Config", {}).get("Env") or []
    return dict(e.split("=", 1) for e in env if "=" in e)


def build_image(base_image: str, wheels: list[Path], tag: str, requirements: Path | None = None, extra_wheels: list[Path] = (),
                force: bool = False, network: str = "none", status=None, target=None) -> dict:
    """Check the wheels against the base image (``target``: its facts, when already probed), lay out a context, build offline."""
    c = client(timeout=600)
    target = target or probe_image(c, base_image)
    for w in wheels:
        verify_catalog_digest(w)
        problems = mismatches(inspect_wheel(w), target)
        if problems and not force:
            raise DockerError(f"{w.name} does not fit {base_image}: {problems[0]}", "use wheels resolved for the image, or --force")
    with tempfile.TemporaryDirectory(prefix="mambaenv-docker-") as tmp:
        ctx = Path(tmp)
        (ctx / "wheels").mkdir()
        for w in list(wheels) + list(extra_wheels):
            shutil.copy(w, ctx / "wheels" / Path(w).name)
        (ctx / "requirements.txt").write_text(Path(requirements).read_text() if requirements else "")
        (ctx / "Dockerfile").write_text(dockerfile_text())
        labels = {LABEL: "true", LABEL_CUDA: target.torch_cuda or "", "org.mambaenv.base": base_image}
        logs = []
        try:
            image, stream = c.images.build(path=str(ctx), tag=tag, buildargs={"BASE_IMAGE": base_image}, labels=labels,
                                           network_mode=network, rm=True, forcerm=True, pull=False)
            for chunk in stream:
                line = chunk.get("stream", "").strip()
                if line:
                    logs.append(line)
                    if status:
                        status(f"building {tag}: {line[:100]}")
        except Exception as e:
            msg = getattr(e, "msg", None) or str(e)
            raise DockerError(f"docker build failed: {str(msg).strip().splitlines()[-1][:300]}",
                              "the wheels folder must hold every dependency (use a bundle), since the build has no network") from None
    return {"image": tag, "id": image.id, "base": base_image, "python": target.python, "torch": target.torch, "log_tail": logs[-5:]}


_GPU_IDS = re.compile(r"^(?:\d+|GPU-[0-9a-fA-F-]+|MIG-[0-9a-zA-Z/-]+)(?:,(?:\d+|GPU-[0-9a-fA-F-]+|MIG-[0-9a-zA-Z/-]+))*$")


def check_gpus(gpus: str) -> str:
    """``all``, ``none``, a count, or device ids (indexes, GPU-/MIG- UUIDs) separated by commas; anything else refused."""
    g = (gpus or "").strip()
    if g in ("all", "none") or (g.isdigit() and int(g) > 0) or _GPU_IDS.match(g):
        return g
    raise DockerError(f"malformed --gpus value {gpus!r}", "use all, none, a count such as 2, or device ids such as 0,1 or GPU-<uuid>")


def gpu_request(gpus: str):
    import docker  # start-up: the Docker SDK loads only when the engine is used

    gpus = check_gpus(gpus)
    if gpus == "none":
        return []
    if gpus == "all":
        return [docker.types.DeviceRequest(count=-1, capabilities=[["gpu"]])]
    if gpus.isdigit():
        return [docker.types.DeviceRequest(count=int(gpus), capabilities=[["gpu"]])]
    return [docker.types.DeviceRequest(device_ids=gpus.split(","), capabilities=[["gpu"]])]


# Mounting one of these read-write at /workspace hands the container (root inside, often) the whole system.
SYSTEM_ROOTS = ("/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib64", "/opt", "/proc", "/root", "/run", "/sbin", "/srv",
                "/sys", "/usr", "/var", "/tmp", "/mnt", "/media")


def check_project(project: Path) -> tuple[Path, list[str]]:
    """The real folder behind ``project`` (symlinks followed) and warnings; ``/`` is refused outright."""
    real = Path(os.path.realpath(project))
    if real == Path("/"):
        raise DockerError(f"{project} is the root folder / (after following symlinks); mounting it would expose the whole system",
                          "give the project's own folder")
    warnings = []
    if str(real) in SYSTEM_ROOTS or real == Path.home() or real.parent == Path("/home"):
        warnings.append(f"{real} is a home or system folder; all of it is mounted at /workspace"
                        " (give the project's own folder, or --read-only)")
    return real, warnings


def _mount_field(text: str) -> str:
    """One field of ``docker run --mount`` (a CSV list): quoted when it holds a comma or a quote."""
    return '"' + text.replace('"', '""') + '"' if ("," in text or '"' in text) else text


def check_gpu_runtime(c, gpus: str, image: str) -> None:
    if gpus == "none":
        return

    if not has_nvidia_runtime(c.info()):
        raise DockerError("this Docker has no NVIDIA runtime, so --gpus cannot work",
                          "install nvidia-container-toolkit and run: sudo nvidia-ctk runtime configure --runtime=docker; "
                          "sudo systemctl restart docker (or run with --gpus none)")

    require_local_image(c, image)
    cuda = c.images.get(image).labels.get(LABEL_CUDA) or _image_env(c, image).get("CUDA_VERSION", "")
    driver = detect_nvidia().driver
    # the same rule as doctor: NVIDIA's minor-version compatibility floor, not each release's strict minimum
    if cuda and driver and not driver_runs(driver, cuda)[0]:
        raise DockerError(f"the host driver {driver} is too old for the image's CUDA {cuda}",
                          f"upgrade the driver to >= {compat_floor(cuda) or min_driver_for_cuda(cuda)} or use an image with an older CUDA")


def run_options(project: Path, image: str, gpus: str, read_only: bool, detach: bool, command: list[str], network: str | None,
                shm_size: str = DEFAULT_SHM, name: str | None = None, user: str | None = None) -> dict:
    """The container's options, as data: the SDK call and the CLI line are both made from this.

    The project is one bind mount described field by field (never a ``host:container:mode`` string, which
    breaks on a ``:`` in the path), and its real path is checked: ``/`` is refused, a home or system root warned about.
    """
    project, warnings = check_project(project)
    return {
        "image": image,
        "command": command or None,
        "mount": {"source": str(project), "target": "/workspace", "read_only": bool(read_only)},
        "warnings": warnings,
        "working_dir": "/workspace",
        "user": user or f"{os.getuid()}:{os.getgid()}",  # files made in /workspace belong to you, not root
        "shm_size": shm_size,
        "labels": {LABEL: "true", LABEL_PROJECT: str(project)},
        "gpus": check_gpus(gpus),
        "network_mode": network,
        "detach": detach,
        "name": name,
        "environment": {"HOME": "/tmp"},  # the host uid has no home in the image
    }


def cli_args(opts: dict, interactive: bool) -> list[str]:
    args = ["docker", "run", "--rm"] + (["-it"] if interactive else [])
    m = opts["mount"]
    args += ["--mount", ",".join(["type=bind", _mount_field(f"source={m['source']}"), _mount_field(f"target={m['target']}")]
                                 + (["readonly"] if m["read_only"] else []))]
    args += ["-w", opts["working_dir"], "--user", opts["user"], "--shm-size", opts["shm_size"]]
    for k, v in opts["labels"].items():
        args += ["--label", f"{k}={v}"]
    for k, v in opts["environment"].items():
        args += ["-e", f"{k}={v}"]
    if opts["gpus"] != "none":
        args += ["--gpus", opts["gpus"] if opts["gpus"] in ("all",) or opts["gpus"].isdigit() else f'"device={opts["gpus"]}"']
    if opts["network_mode"]:
        args += ["--network", opts["network_mode"]]
    if opts["name"]:
        args += ["--name", opts["name"]]
    return args + [opts["image"]] + (opts["command"] or ["bash"])


def run_container(opts: dict, status=None) -> dict:
    c = client()
    require_local_image(c, opts["image"])
    check_gpu_runtime(c, opts["gpus"], opts["image"])
    from docker.types import Mount  # start-up: the Docker SDK loads only when the engine is used

    m = opts["mount"]
    if not Path(m["source"]).is_dir():
        raise DockerError(f"no such project folder: {m['source']}", "give the folder to mount at /workspace")
    mounts = [Mount(target=m["target"], source=m["source"], type="bind", read_only=m["read_only"])]
    kwargs = dict(image=opts["image"], command=opts["command"], mounts=mounts, working_dir=opts["working_dir"],
                  user=opts["user"], shm_size=opts["shm_size"], labels=opts["labels"], environment=opts["environment"],
                  device_requests=gpu_request(opts["gpus"]), name=opts["name"])
    if opts["network_mode"]:
        kwargs["network_mode"] = opts["network_mode"]
    try:
        container = c.containers.run(detach=True, **kwargs)
    except Exception as e:
        why = str(getattr(e, "explanation", None) or e)[:300]
        raise DockerError(f"docker run failed: {why}", "check the image name and the options (mambaenv docker ps lists yours)") from None
    if opts["detach"]:
        return {"container": container.short_id, "name": container.name, "detached": True}
    out = []
    for chunk in container.logs(stream=True, follow=True):
        text = chunk.decode(errors="replace")
        out.append(text)
        print(text, end="", flush=True) if status is None else status(text.strip()[:100])
    code = container.wait().get("StatusCode", 1)
    if not out:  # a command that ends before the log stream attaches can leave the stream empty: read the logs once more
        text = container.logs().decode(errors="replace")
        if text:
            out.append(text)
            print(text, end="", flush=True) if status is None else status(text.strip()[:100])
    container.remove()
    return {"container": container.short_id, "exit_code": code, "output": "".join(out)}


def list_containers(all_: bool = True) -> list[dict]:
    c = client()
    rows = []
    for ct in c.containers.list(all=all_, filters={"label": f"{LABEL}=true"}):
        rows.append({"id": ct.short_id, "name": ct.name, "status": ct.status, "image": (ct.image.tags or [ct.image.short_id])[0],
                     "project": ct.labels.get(LABEL_PROJECT)})
    return rows


def _ours(c, ref: str):
    try:
        ct = c.containers.get(ref)
    except Exception:
        raise DockerError(f"no container {ref!r}", "mambaenv docker ps lists mambaenv's containers") from None
    if ct.labels.get(LABEL) != "true":
        raise DockerError(f"{ref} is not a mambaenv container", "manage it with docker itself")
    return ct


def stop(ref: str) -> None:
    _ours(client(), ref).stop(timeout=10)


def remove(ref: str, force: bool = False) -> None:
    _ours(client(), ref).remove(force=force)


def commit(ref: str, tag: str) -> str:
    repo, _, t = tag.partition(":")
    img = _ours(client(), ref).commit(repository=repo, tag=t or "latest", conf={"Labels": {LABEL: "true"}})
    return img.id


def save(tag: str, output: Path, progress=None) -> int:
    c = client(timeout=600)
    try:
        image = c.images.get(tag)
    except Exception:
        raise DockerError(f"no image {tag!r} here", "docker images lists them") from None
    tmp = output.with_name(f".{output.name}.part")
    total = 0
    opener = gzip.open if output.suffix == ".gz" else open
    with opener(tmp, "wb") as f:
        for chunk in image.save(named=True):
            f.write(chunk)
            total += len(chunk)
            if progress:
                progress(total, None)
    os.replace(tmp, output)
    return total


def load(path: Path, progress=None) -> list[str]:
    c = client(timeout=600)
    if not path.is_file():
        raise DockerError(f"no such file: {path}", "give the file made by mambaenv docker save (or docker save)")
    with open(path, "rb") as raw:
        magic = raw.read(2)
    opener = gzip.open if magic == b"\x1f\x8b" else open
    with opener(path, "rb") as f:
        try:
            images = c.images.load(f.read())
        except Exception as e:
            raise DockerError(f"docker load failed: {str(e)[:200]}", "the file must come from docker save") from None
    return [t for img in images for t in img.tags]


def attach_cli(ref: str) -> None:
    _ours(client(), ref)
    if not shutil.which("docker"):
        raise DockerError("attach needs the docker CLI", "install docker's client")
    os.execvp("docker", ["docker", "attach", ref])


def exec_cli(args: list[str]) -> int:
    if not shutil.which("docker"):
        raise DockerError("an interactive shell needs the docker CLI", "install docker's client, or give a command after --")
    return subprocess.call(args)


# --- registries: push and pull, for labs that run one (save/load stay for air gaps) -------------------

def registry_ref(image: str, registry: str) -> tuple[str, str]:
    """``mambaenv-mamba:latest`` + ``HOST:PORT`` -> (``HOST:PORT/mambaenv-mamba``, ``latest``); a registry host already
    in the name is replaced, so an image pulled from one registry can be pushed to another."""
    if "://" in registry or "/" in registry.strip("/") or not registry.strip():
        raise DockerError(f"malformed registry {registry!r}", "give it as HOST:PORT, e.g. --registry registry.lab:5000")
    name, tag = split_ref(image)
    parts = name.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]
    return f"{registry.strip('/')}/{'/'.join(parts)}", tag


def split_ref(ref: str) -> tuple[str, str]:
    """``host:5000/a/b:tag`` -> (``host:5000/a/b``, ``tag``); no tag means ``latest``; a digest stays with the name."""
    if "@" in ref:
        return ref, ""
    last = ref.rsplit("/", 1)[-1]
    if ":" in last:
        name, _, tag = ref.rpartition(":")
        return name, tag
    return ref, "latest"


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


def _stream(lines, progress, action: str, ref: str, fix: str) -> dict:
    meter, last = _LayerProgress(progress), {}
    for line in lines:
        if line.get("error"):
            raise DockerError(f"docker {action} of {ref} failed: {str(line['error']).strip()[:300]}", fix)
        meter.feed(line)
        if line.get("aux"):
            last = line["aux"]
        if line.get("status", "").startswith("Digest:"):
            last.setdefault("Digest", line["status"].split(":", 1)[1].strip())
    return last


def push(image: str, registry: str, progress=None) -> dict:
    """Tag IMAGE as REGISTRY/name:tag and push it; the answer carries the reference others pull and its digest."""
    repo, tag = registry_ref(image, registry)
    c = client(timeout=600)
    require_local_image(c, image)
    c.images.get(image).tag(repo, tag)
    fix = (f"check that a registry answers at {registry} (curl http://{registry}/v2/); a registry without TLS must be in dockerd's "
           "insecure-registries (127.0.0.0/8 is by default)")
    try:
        aux = _stream(c.api.push(repo, tag=tag, stream=True, decode=True), progress, "push", f"{repo}:{tag}", fix)
    except DockerError:
        raise
    except Exception as e:
        raise DockerError(f"docker push of {repo}:{tag} failed ({type(e).__name__}: {str(e)[:200]})", fix) from None
    return {"image": image, "pushed": f"{repo}:{tag}", "digest": aux.get("Digest"), "size": aux.get("Size")}


def pull(ref: str, progress=None) -> dict:
    """Pull REF (HOST:PORT/name:tag) from a registry; the answer carries the local image id."""
    c = client(timeout=600)
    repo, tag = split_ref(ref)
    fix = "check the reference (mambaenv docker push prints it) and that the registry answers; without a registry use save/load"
    try:
        aux = _stream(c.api.pull(repo, tag=tag or None, stream=True, decode=True), progress, "pull", ref, fix)
        image = c.images.get(ref)
    except DockerError:
        raise
    except Exception as e:
        raise DockerError(f"docker pull of {ref} failed ({type(e).__name__}: {str(e)[:200]})", fix) from None
    return {"image": ref, "id": image.id, "digest": aux.get("Digest")}
