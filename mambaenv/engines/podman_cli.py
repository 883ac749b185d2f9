"""Podman through its CLI, for machines where no Podman API service runs (``podman system service`` is opt-in,
and rootless users often have no systemd user session to start it).

Every call is one ``podman`` process; JSON comes from ``--format json``. Options are passed as separate argv
items, so nothing is parsed by a shell.
"""
from __future__ import annotations

import json
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Iterator

from mambaenv.engines import ContainerInfo, EngineOperationError, ImageInfo, NotFound, RunSpec

CHUNK = 1024 * 1024
_NOT_FOUND = ("no such", "not found", "image not known", "unable to find")


def _said(stderr: str) -> str:
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    return (lines[-1] if lines else "podman failed without a message").removeprefix("Error: ").strip()


def create_args(spec: RunSpec) -> list[str]:
    """``podman create`` options for ``spec``: the mount as separate CSV fields (a ``,`` or ``"`` in a path is quoted)."""
    args = ["--pull", "never", "--shm-size", spec.shm_size]
    if spec.source:
        mount = ["type=bind", _field(f"source={spec.source}"), _field(f"target={spec.target}")]
        mount += (["ro"] if spec.read_only else []) + ([f"relabel={'shared' if spec.relabel == 'z' else 'private'}"] if spec.relabel else [])
        args += ["--mount", ",".join(mount), "--workdir", spec.target]
    args += ["--user", spec.user] if spec.user else []
    args += ["--userns", spec.userns] if spec.userns else []
    args += [a for k, v in spec.labels.items() for a in ("--label", f"{k}={v}")]
    args += [a for k, v in spec.environment.items() for a in ("--env", f"{k}={v}")]
    args += [a for d in spec.cdi_devices for a in ("--device", d)]
    args += ["--network", spec.network] if spec.network else []
    args += ["--name", spec.name] if spec.name else []
    args += ["--interactive", "--tty"] if spec.interactive else []
    return args + ["--", spec.image] + list(spec.command)


def _field(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if ("," in text or '"' in text) else text


class PodmanCli:
    kind, via = "podman", "cli"

    def __init__(self, binary: str, rootless: bool = False, selinux: bool = False, timeout: int = 600):
        self.address, self.rootless, self.selinux, self.timeout = binary, rootless, selinux, timeout

    def _run(self, *args: str, timeout: float | None = None) -> str:
        out = subprocess.run([self.address, *args], capture_output=True, text=True, timeout=timeout or self.timeout)
        if out.returncode != 0:
            said = _said(out.stderr)
            raise (NotFound if any(w in said.lower() for w in _NOT_FOUND) else EngineOperationError)(said)
        return out.stdout

    def _inspect(self, what: str, ref: str) -> dict | None:
        try:
            return json.loads(self._run(what, "inspect", "--format", "json", ref))[0]
        except NotFound:
            return None

    # --- images ------------------------------------------------------------------------------------------
    def image(self, ref: str) -> ImageInfo | None:
        attrs = self._inspect("image", ref)
        if attrs is None:
            return None
        config = attrs.get("Config") or {}
        env = dict(e.split("=", 1) for e in config.get("Env") or [] if "=" in e)
        return ImageInfo(attrs["Id"], tuple(attrs.get("RepoTags") or ()), config.get("Labels") or attrs.get("Labels") or {}, env)

    def build(self, context: str, tag: str, buildargs: dict, labels: dict, network: str) -> Iterator[str]:
        args = [self.address, "build", "--pull=never", "--network", network, "--tag", tag, "--format", "docker"]
        args += [a for k, v in buildargs.items() for a in ("--build-arg", f"{k}={v}")]
        args += [a for k, v in labels.items() for a in ("--label", f"{k}={v}")]
        proc = subprocess.Popen(args + [context], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        tail = []
        for line in proc.stdout:
            if line.strip():
                tail = (tail + [line.strip()])[-20:]
                yield line.strip()
        if proc.wait() != 0:
            errors = [t.removeprefix("Error: ") for t in tail if t.startswith("Error")]
            raise EngineOperationError((errors or tail or ["podman build failed"])[-1])

    def tag(self, image: str, repo: str, tag: str) -> None:
        self._run("tag", image, f"{repo}:{tag}")

    def remove_image(self, ref: str) -> None:
        self._run("rmi", "--force", ref)

    def save(self, ref: str) -> Iterator[bytes]:
        """``podman save`` to a pipe, read as it comes (a docker-archive, as docker save writes)."""
        if self.image(ref) is None:
            raise NotFound(f"{ref}: image not known")
        proc = subprocess.Popen([self.address, "save", "--format", "docker-archive", ref], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        while chunk := proc.stdout.read(CHUNK):
            yield chunk
        if proc.wait() != 0:
            raise EngineOperationError(_said(proc.stderr.read().decode(errors="replace")))

    def load(self, chunks: Iterator[bytes]) -> list[str]:
        """``chunks`` written to ``podman load``'s stdin as they come (never the whole file in memory)."""
        with tempfile.TemporaryFile() as err:
            proc = subprocess.Popen([self.address, "load"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)
            reader = threading.Thread(target=lambda: setattr(proc, "said", proc.stdout.read()), daemon=True)
            reader.start()
            try:
                for chunk in chunks:
                    proc.stdin.write(chunk)
            except BrokenPipeError:
                pass
            finally:
                proc.stdin.close()
            code = proc.wait()
            reader.join()
            err.seek(0)
            if code != 0:
                raise EngineOperationError(_said(err.read().decode(errors="replace")))
        text = getattr(proc, "said", b"").decode(errors="replace")
        return [n.strip() for line in text.splitlines() if line.startswith("Loaded image")
                for n in line.split(":", 1)[1].split(",") if n.strip()]

    def push(self, repo: str, tag: str) -> Iterator[dict]:
        with tempfile.TemporaryDirectory() as tmp:
            digest_file = Path(tmp) / "digest"
            self._run("push", "--digestfile", str(digest_file), f"{repo}:{tag}")
            yield {"aux": {"Digest": digest_file.read_text().strip() if digest_file.exists() else None}}

    def pull(self, repo: str, tag: str | None) -> Iterator[dict]:
        self._run("pull", f"{repo}:{tag}" if tag else repo)
        return iter(())

    # --- containers ----------------------------------------------------------------------------------------
    def create(self, spec: RunSpec) -> str:
        return self._run("create", *create_args(spec)).strip().splitlines()[-1]

    def start(self, cid: str) -> None:
        self._run("start", cid)

    def follow_logs(self, cid: str) -> Iterator[bytes]:
        proc = subprocess.Popen([self.address, "logs", "--follow", cid], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        while chunk := proc.stdout.read1(CHUNK):
            yield chunk
        proc.wait()

    def logs(self, cid: str) -> bytes:
        return subprocess.run([self.address, "logs", cid], capture_output=True).stdout

    def wait(self, cid: str, timeout: float | None = None) -> int:
        return int(self._run("wait", cid, timeout=timeout).strip().splitlines()[-1])

    def remove(self, cid: str, force: bool = False) -> None:
        self._run("rm", *(["--force"] if force else []), cid)

    def stop(self, cid: str) -> None:
        self._run("stop", "--time", "10", cid)

    def commit(self, cid: str, repo: str, tag: str, labels: dict) -> str:
        changes = [a for k, v in labels.items() for a in ("--change", f"LABEL {k}={v}")]
        return self._run("commit", "--quiet", "--format", "docker", *changes, cid, f"{repo}:{tag}").strip().splitlines()[-1]

    def container(self, ref: str) -> ContainerInfo | None:
        attrs = self._inspect("container", ref)
        if attrs is None:
            return None
        config = attrs.get("Config") or {}
        return ContainerInfo(attrs["Id"], attrs.get("Name", ""), (attrs.get("State") or {}).get("Status", ""),
                             attrs.get("ImageName") or config.get("Image", ""), config.get("Labels") or {})

    def containers(self, label: str) -> list[ContainerInfo]:
        rows = json.loads(self._run("ps", "--all", "--filter", f"label={label}", "--format", "json") or "[]")
        return [ContainerInfo(r["Id"], (r.get("Names") or ["?"])[0], r.get("State", ""), r.get("Image", ""), r.get("Labels") or {}) for r in rows]

    def terminal_command(self) -> list[str]:
        return [self.address]
