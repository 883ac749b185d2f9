"""A container engine as facts, and the decisions made from them: which engine, and how GPUs reach its containers.

Pure functions over data read elsewhere (detect/docker_engine.py reads sockets, binaries and the environment), so
the same decision answers for this machine and for captured facts in tests.
"""
from __future__ import annotations

from dataclasses import dataclass

ENGINE_NAMES = ("docker", "podman", "podman-cli")
DEFAULT_SOCKET = "/var/run/docker.sock"
PODMAN_ROOTFUL_SOCKET = "/run/podman/podman.sock"
CDI_DOCKER_MIN = (25,)  # Docker reads CDI specs from 25.0 on (a feature flag until it is on by default)
GPU_KIND = "nvidia.com/gpu"
CDI_FIX = "sudo nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml (nvidia-container-toolkit >= 1.12)"


@dataclass(frozen=True)
class Endpoint:
    """Where an engine answers: ``kind`` is a guess until its /version says (DOCKER_HOST may be Podman's socket)."""

    kind: str  # docker | podman
    via: str  # api | cli
    address: str  # unix:///path, tcp://..., ssh://..., or the podman binary
    chosen_by: str  # what picked it, for messages: "MAMBAENV_ENGINE=podman", "DOCKER_HOST", "found /var/run/docker.sock"


@dataclass
class DockerFacts:
    """What doctor and the docker commands know about the engine (``DockerFacts``: the name doctor's JSON always had)."""

    cli: str | None = None
    kind: str | None = None  # docker | podman
    via: str | None = None  # api | cli
    address: str | None = None
    chosen_by: str | None = None
    reachable: bool = False
    server_version: str | None = None
    rootless: bool = False
    selinux: bool = False
    nvidia_runtime: bool = False
    cdi_dirs: tuple[str, ...] = ()  # where this engine reads CDI specs; () when it cannot use CDI
    gpu_kind: str = GPU_KIND  # the CDI kind --gpus asks for (MAMBAENV_CDI_GPU_KIND: a test's stand-in, no GPU needed)
    gpu_devices: tuple[str, ...] = ()  # devices of that kind named by the specs there
    gpu_method: str | None = None  # "runtime" (device requests, NVIDIA runtime), "cdi", or None: no GPU in containers
    gpu_fix: str | None = None
    note: str | None = None


def _socket_address(path: str) -> str:
    return f"unix://{path}"


def podman_socket(uid: int, runtime_dir: str | None) -> str | None:
    """The Podman API socket of this user: root's is system-wide, a user's lives in their runtime folder."""
    if uid == 0:
        return PODMAN_ROOTFUL_SOCKET
    return f"{runtime_dir}/podman/podman.sock" if runtime_dir else None


def docker_sockets(uid: int, runtime_dir: str | None) -> list[str]:
    """Docker's rootful socket, then rootless Docker's (``dockerd-rootless.sh`` puts it in the runtime folder)."""
    return [DEFAULT_SOCKET] + ([f"{runtime_dir}/docker.sock"] if uid != 0 and runtime_dir else [])


def choose_endpoint(env: dict, sockets: set[str], podman: str | None, uid: int) -> Endpoint | None:
    """The engine ``mambaenv docker`` uses (the order is this module's docstring); None when there is none at all.

    ``sockets``: the paths among the candidates that are Unix sockets now; ``podman``: the podman binary, if any."""
    runtime_dir = env.get("XDG_RUNTIME_DIR")
    chosen = (env.get("MAMBAENV_ENGINE") or "").strip()
    own_podman = podman_socket(uid, runtime_dir)
    podman_api = [own_podman] if own_podman in sockets else []
    podman_cli = [Endpoint("podman", "cli", podman, "podman on PATH")] if podman else []
    if chosen:
        why = f"MAMBAENV_ENGINE={chosen}"
        if chosen == "docker":
            return Endpoint("docker", "api", (env.get("DOCKER_HOST") or "").strip() or _socket_address(_first_docker(sockets, uid, runtime_dir)), why)
        if chosen == "podman" and env.get("CONTAINER_HOST"):
            return _container_host(env["CONTAINER_HOST"], podman, why)
        if chosen == "podman" and podman_api:
            return Endpoint("podman", "api", _socket_address(podman_api[0]), why)
        return Endpoint("podman", "cli", podman, why) if podman else None
    if (env.get("DOCKER_HOST") or "").strip():
        return Endpoint("docker", "api", env["DOCKER_HOST"].strip(), "DOCKER_HOST")
    if (env.get("CONTAINER_HOST") or "").strip():
        return _container_host(env["CONTAINER_HOST"], podman, "CONTAINER_HOST")
    for path in docker_sockets(uid, runtime_dir):
        if path in sockets:
            return Endpoint("docker", "api", _socket_address(path), f"found {path}")
    if podman_api:
        return Endpoint("podman", "api", _socket_address(podman_api[0]), f"found {podman_api[0]}")
    return podman_cli[0] if podman_cli else None


def _first_docker(sockets: set[str], uid: int, runtime_dir: str | None) -> str:
    return next((p for p in docker_sockets(uid, runtime_dir) if p in sockets), DEFAULT_SOCKET)


def _container_host(value: str, podman: str | None, why: str) -> Endpoint:
    """A unix:// CONTAINER_HOST is Podman's API; ssh:// and tcp:// are left to Podman's own remote client."""
    value = value.strip()
    if value.startswith("unix://"):
        return Endpoint("podman", "api", value, why)
    return Endpoint("podman", "cli", podman or "podman", why)


def version_tuple(text: str | None) -> tuple[int, ...]:
    out = []
    for part in (text or "").split("."):
        digits = "".join(c for c in part if c.isdigit())
        if not digits:
            break
        out.append(int(digits))
        if not part.isdigit():
            break
    return tuple(out)


def kind_from_version(version: dict) -> str:
    """``/version``: Podman's compatible API lists a component named "Podman Engine"; Docker's is "Engine"."""
    names = [c.get("Name", "") for c in version.get("Components") or [] if isinstance(c, dict)]
    return "podman" if any("podman" in n.lower() for n in names) else "docker"


def gpu_access(facts: DockerFacts) -> tuple[str | None, str | None]:
    """How ``--gpus`` reaches this engine's containers, and the fix when it cannot.

    Docker: its NVIDIA runtime (device requests) where registered, else CDI from 25.0 on when a spec for
    nvidia.com/gpu is in its CDI folders. Podman: CDI only (it has no device requests)."""
    if facts.kind == "docker" and facts.nvidia_runtime:
        return "runtime", None
    if facts.cdi_dirs and facts.gpu_devices:
        return "cdi", None
    if facts.kind == "podman":
        return None, f"{CDI_FIX}; Podman then passes it as --device {GPU_KIND}=all"
    runtime_fix = "install nvidia-container-toolkit; sudo nvidia-ctk runtime configure --runtime=docker; sudo systemctl restart docker"
    if version_tuple(facts.server_version) >= CDI_DOCKER_MIN:
        where = "" if facts.cdi_dirs else ' with "features": {"cdi": true} in /etc/docker/daemon.json'
        return None, f"{runtime_fix}; or CDI: {CDI_FIX}{where}"
    return None, runtime_fix


def cdi_names(gpus: str, kind: str = GPU_KIND) -> list[str]:
    """``--gpus`` as CDI device names: all -> kind=all; ids -> kind=id each; a count N -> the first N indexes
    (CDI has no count; nvidia-ctk names devices by index, UUID and "all"). ``0`` alone is GPU 0, as no count is 0."""
    if gpus == "none":
        return []
    if gpus == "all":
        return [f"{kind}=all"]
    if is_count(gpus):
        return [f"{kind}={i}" for i in range(int(gpus))]
    return [f"{kind}={g}" for g in gpus.split(",")]


def is_count(gpus: str) -> bool:
    """``--gpus 2`` is a count, as for docker; ``--gpus 0`` is the id of the first GPU (a count of none is ``none``)."""
    return gpus.isdigit() and int(gpus) > 0
