"""Docker, or Podman's Docker-compatible API service (``podman system service``), through the Docker SDK.

The API version is negotiated. Podman's compatible API cannot say two things mambaenv needs (checked on 4.3.1): a CDI
device (``Devices`` and a ``cdi`` device request are both ignored or refused) and ``userns=keep-id`` (the SDK refuses
it before sending), so on Podman a container is created through Podman's own endpoint (``/libpod/containers/create``,
same socket, same containers); everything after creation is the compatible API again.
"""
from __future__ import annotations

from typing import Iterator

from mambaenv.detect.engine_facts import is_count
from mambaenv.engines import ContainerInfo, EngineOperationError, ImageInfo, NotFound, RunSpec

LIBPOD = "/v4.0.0/libpod"  # Podman serves its own API under any version prefix; 4.0.0 is the oldest with CDI devices


def _words(e: Exception) -> str:
    return str(getattr(e, "explanation", None) or e).strip()


class ApiEngine:
    via = "api"

    def __init__(self, kind: str, address: str, timeout: int = 60, rootless: bool = False, selinux: bool = False):
        import docker  # start-up: the Docker SDK (and requests) loads only when an engine is used

        self.kind, self.address, self.rootless, self.selinux = kind, address, rootless, selinux
        self.sdk = docker
        self.client = docker.DockerClient(base_url=address, version="auto", timeout=timeout)
        self.client.ping()

    def _call(self, call, *args, **kwargs):
        try:
            return call(*args, **kwargs)
        except self.sdk.errors.NotFound as e:
            raise NotFound(_words(e)) from None
        except self.sdk.errors.DockerException as e:
            raise EngineOperationError(_words(e)) from None

    def _inspect(self, call, ref: str) -> dict | None:
        try:
            return self._call(call, ref)
        except NotFound:
            return None

    # --- images ------------------------------------------------------------------------------------------
    def image(self, ref: str) -> ImageInfo | None:
        attrs = self._inspect(self.client.api.inspect_image, ref)
        if attrs is None:
            return None
        config = attrs.get("Config") or {}
        env = dict(e.split("=", 1) for e in config.get("Env") or [] if "=" in e)
        return ImageInfo(attrs["Id"], tuple(attrs.get("RepoTags") or ()), config.get("Labels") or {}, env)

    def build(self, context: str, tag: str, buildargs: dict, labels: dict, network: str) -> Iterator[str]:
        """The build's log lines; raises EngineOperationError with the step that failed."""
        stream = self._call(self.client.api.build, path=context, tag=tag, buildargs=buildargs, labels=labels, network_mode=network,
                            rm=True, forcerm=True, pull=False, decode=True)
        for chunk in stream:
            if chunk.get("error"):
                raise EngineOperationError(str(chunk["error"]).strip())
            for line in str(chunk.get("stream", "")).splitlines():
                if line.strip():
                    yield line.strip()

    def tag(self, image: str, repo: str, tag: str) -> None:
        self._call(self.client.api.tag, image, repo, tag)

    def remove_image(self, ref: str) -> None:
        self._call(self.client.api.remove_image, ref, force=True)

    def save(self, ref: str) -> Iterator[bytes]:
        return self._call(self.client.api.get_image, ref)

    def load(self, chunks: Iterator[bytes]) -> list[str]:
        """Stream ``chunks`` (a docker-save tar) to the engine; the names it loaded ("Loaded image: NAME")."""
        names = []
        for line in self._call(self.client.api.load_image, chunks):
            if line.get("error"):
                raise EngineOperationError(str(line["error"]).strip())
            text = str(line.get("stream", "")).strip()
            for prefix in ("Loaded image: ", "Loaded image(s): ", "Loaded image ID: "):
                if text.startswith(prefix):
                    names += [n.strip() for n in text[len(prefix):].split(",") if n.strip()]
        return names

    def push(self, repo: str, tag: str) -> Iterator[dict]:
        return self._call(self.client.api.push, repo, tag=tag, stream=True, decode=True)

    def pull(self, repo: str, tag: str | None) -> Iterator[dict]:
        return self._call(self.client.api.pull, repo, tag=tag, stream=True, decode=True)

    # --- containers ----------------------------------------------------------------------------------------
    def create(self, spec: RunSpec) -> str:
        if self.kind == "podman":
            return self._create_podman(spec)
        from docker.types import DeviceRequest, Mount  # start-up: the SDK's types load with the SDK

        requests = []
        if spec.gpu_requests:
            g = spec.gpu_requests
            count = -1 if g == "all" else int(g) if is_count(g) else None
            requests.append(DeviceRequest(count=count, device_ids=None if count is not None else g.split(","), capabilities=[["gpu"]]))
        if spec.cdi_devices:  # Docker >= 25 turns --device vendor/class=name into this same request
            requests.append(DeviceRequest(driver="cdi", device_ids=list(spec.cdi_devices)))
        mounts, binds = [], None
        if spec.source and spec.relabel:  # a Mount cannot carry an SELinux relabel; a bind string can, if no ':' is in the path
            if ":" in spec.source:
                raise EngineOperationError(f"{spec.source} holds a ':', which Docker's relabelled bind mounts cannot carry under SELinux")
            binds = [f"{spec.source}:{spec.target}:{'ro,' if spec.read_only else ''}{spec.relabel}"]
        elif spec.source:
            mounts = [Mount(target=spec.target, source=spec.source, type="bind", read_only=spec.read_only)]
        host_config = self.client.api.create_host_config(mounts=mounts, binds=binds, shm_size=spec.shm_size,
                                                         device_requests=requests or None, network_mode=spec.network)
        answer = self._call(self.client.api.create_container, spec.image, list(spec.command) or None, user=spec.user or None,
                            working_dir=spec.target if spec.source else None, labels=spec.labels, environment=spec.environment,
                            name=spec.name, host_config=host_config, tty=spec.interactive, stdin_open=spec.interactive)
        return answer["Id"]

    def _create_podman(self, spec: RunSpec) -> str:
        options = ["rbind"] + (["ro"] if spec.read_only else []) + ([spec.relabel] if spec.relabel else [])
        body = {"image": spec.image, "command": list(spec.command) or None, "labels": spec.labels,
                "env": spec.environment, "name": spec.name, "terminal": spec.interactive, "stdin": spec.interactive,
                "shm_size": self.sdk.utils.parse_bytes(spec.shm_size), "devices": [{"path": d} for d in spec.cdi_devices]}
        if spec.source:
            body["work_dir"] = spec.target
            body["mounts"] = [{"destination": spec.target, "source": spec.source, "type": "bind", "options": options}]
        if spec.user:
            body["user"] = spec.user
        if spec.userns:
            body["userns"] = {"nsmode": spec.userns}
        if spec.network:
            body["netns"] = {"nsmode": spec.network}
        resp = self._call(self.client.api.post, f"{self.client.api.base_url}{LIBPOD}/containers/create",
                          json={k: v for k, v in body.items() if v is not None})
        if resp.status_code >= 400:
            try:
                said = resp.json().get("message") or resp.text
            except ValueError:
                said = resp.text
            raise EngineOperationError(str(said).strip()[:500])
        return resp.json()["Id"]

    def start(self, cid: str) -> None:
        self._call(self.client.api.start, cid)

    def follow_logs(self, cid: str) -> Iterator[bytes]:
        return self._call(self.client.api.logs, cid, stream=True, follow=True)

    def logs(self, cid: str) -> bytes:
        return self._call(self.client.api.logs, cid)

    def wait(self, cid: str, timeout: float | None = None) -> int:
        return int(self._call(self.client.api.wait, cid, timeout=timeout).get("StatusCode", 1))

    def remove(self, cid: str, force: bool = False) -> None:
        self._call(self.client.api.remove_container, cid, force=force)

    def stop(self, cid: str) -> None:
        self._call(self.client.api.stop, cid, timeout=10)

    def commit(self, cid: str, repo: str, tag: str, labels: dict) -> str:
        return self._call(self.client.api.commit, cid, repository=repo, tag=tag, conf={"Labels": labels})["Id"]

    def container(self, ref: str) -> ContainerInfo | None:
        attrs = self._inspect(self.client.api.inspect_container, ref)
        if attrs is None:
            return None
        config = attrs.get("Config") or {}
        return ContainerInfo(attrs["Id"], attrs.get("Name", "").lstrip("/"), (attrs.get("State") or {}).get("Status", ""),
                             config.get("Image", ""), config.get("Labels") or {})

    def containers(self, label: str) -> list[ContainerInfo]:
        rows = self._call(self.client.api.containers, all=True, filters={"label": label})
        return [ContainerInfo(r["Id"], (r.get("Names") or ["?"])[0].lstrip("/"), r.get("State", ""), r.get("Image", ""), r.get("Labels") or {})
                for r in rows]

    def terminal_command(self) -> list[str]:
        """The CLI that attaches a terminal to this engine's containers (the SDK cannot hand a terminal over)."""
        return ["podman", "--remote", "--url", self.address] if self.kind == "podman" else ["docker", "-H", self.address]
