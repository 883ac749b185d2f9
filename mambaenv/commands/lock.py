"""lock: the wheels chosen for one or more targets, written as a file the project's own tool installs from.

The resolver's answer enters through one adapter, ``wheels_for``; everything after it works on lock.LockedWheel.
"""
from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import unquote, urlparse

from mambaenv import lock
from mambaenv.errors import BadInput, ExitCode
from mambaenv.facts import TargetEnv
from mambaenv.target import TargetArgs

# --target "python=3.11,torch=2.6.0,torch-cuda=12.6,cxx11abi=true": its keys, as the flags of the same name
TARGET_KEYS = {"python": "python", "torch": "torch", "torch-cuda": "torch_cuda", "cxx11abi": "cxx11abi", "machine": "machine",
               "ngc": "ngc", "env": "env"}
MERGERS = {"uv": lock.merge_pyproject, "pixi": lock.merge_pixi}


@dataclass(frozen=True)
class LockRequest:
    format: str = "requirements"
    targets: tuple[TargetArgs, ...] = (TargetArgs(),)
    offline: bool = False
    wheelhouses: tuple[str, ...] = ()
    package: str = "all"
    output: str | None = None  # write the file here (replaced whole); None: the text goes to stdout
    write: str | None = None  # merge into this existing pyproject.toml (uv) or pixi.toml (pixi)
    mirrors: tuple[str, ...] = ()
    show_progress: bool = True


@dataclass
class LockResult:
    format: str
    targets: list[lock.LockTarget]
    text: str
    path: str | None = None  # the file written or merged into; None: text is for stdout
    notes: list[str] = field(default_factory=list)
    exit_code = ExitCode.OK

    def to_dict(self) -> dict:
        return {"format": self.format, "targets": [t.to_dict() for t in self.targets], "path": self.path, "notes": self.notes,
                "text": self.text}


def parse_target(text: str) -> TargetArgs:
    """``python=3.11,torch=2.6.0,torch-cuda=12.6,cxx11abi=true[,machine=aarch64]`` as the facts flags would give them."""
    values = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        key, sep, value = part.partition("=")
        if not sep or key.strip() not in TARGET_KEYS:
            raise BadInput(f"--target {text!r}: {part!r} is not KEY=VALUE with a known key",
                           f"use keys {', '.join(TARGET_KEYS)}, e.g. --target \"python=3.11,torch=2.6.0,torch-cuda=12.6,cxx11abi=true\"")
        values[TARGET_KEYS[key.strip()]] = value.strip()
    return TargetArgs(**values)


def label_of(t: TargetEnv) -> str:
    """The target's facts as a --target value: the same answer again on any machine."""
    abi = "unknown" if t.cxx11_abi is None else str(t.cxx11_abi).lower()
    label = f"python={t.python},torch={t.torch},torch-cuda={t.torch_cuda or 'none'},cxx11abi={abi},machine={t.machine}"
    return label + (f",ngc={t.ngc_version}" if t.ngc_version else "")


def index_of(wheelhouse: str, url: str) -> str | None:
    """The PEP 503 index a wheelhouse answer came from, for uv's and pixi's ``index`` (the planner will say it itself).

    mambaenv publish writes ``packages/<file>`` beside ``simple/``; an index URL as given is its own answer; a plain
    folder of wheels has no index (its wheels are locked by URL)."""
    if wheelhouse.startswith(("http://", "https://")):
        if wheelhouse.rstrip("/").endswith("/simple"):
            return wheelhouse.rstrip("/") + "/"
        head, sep, _ = url.rpartition("/packages/")
        return head + "/simple/" if sep else wheelhouse.rstrip("/") + "/"
    folder = Path(unquote(urlparse(wheelhouse).path)) if wheelhouse.startswith("file:") else Path(wheelhouse).expanduser()
    for simple in (folder / "simple", folder):
        if simple.name == "simple" and simple.is_dir():
            return simple.resolve().as_uri() + "/"
    return None


def locked_from_choice(d: dict, label: str) -> lock.LockedWheel:
    """One package of resolve's --json answer as a LockedWheel; a package without a wheel stops the lock with resolve's reason."""
    if not d.get("file"):
        alts = [a.get("command") or a.get("summary") for a in d.get("alternatives") or [] if a.get("kind") != "build"]
        team = (f"build it (mambaenv build --package {d['package']}), publish it (mambaenv publish DIST --to WHEELHOUSE) "
                "and lock with --wheelhouse URL")
        raise lock.LockError(f"no prebuilt {d['package']} wheel fits {label}: {d.get('reason')}", "; or ".join(alts[:1] + [team]))
    house = d.get("wheelhouse")
    version = d["file"].split("-")[1]  # the file name's version, +local part and all: what an index pin must match
    return lock.LockedWheel(d["package"], version, d["file"], d["url"], d.get("sha256"), "wheelhouse" if house else "upstream",
                            "listed" if house else d.get("source") or "predicted", index_of(house, d["url"]) if house else None,
                            ("index" if house else "catalog") if d.get("sha256") else None)


def wheels_for(facts: TargetArgs, req: LockRequest) -> lock.LockTarget:
    """The seam to the resolver: one target's facts in, its locked wheels out."""
    from mambaenv.commands import wheels  # start-up: the resolver family loads only for lock

    target = facts.target()
    label = label_of(target)
    answer = wheels.resolve(wheels.ResolveRequest(req.package, None, facts, req.offline, req.wheelhouses))
    locked = tuple(locked_from_choice(c.to_dict(), label) for c in answer.choices)
    return lock.LockTarget(label, target.python, target.machine, target.torch, target.torch_cuda, target.cxx11_abi, locked)


def with_hashes(t: lock.LockTarget, req: LockRequest, hashed: dict[str, str]) -> lock.LockTarget:
    """Every wheel with a sha256: the list's, else that of the bytes downloaded now (through mambaenv's downloader,
    into its cache, so an install later takes them from there). ``hashed`` spares a second download of a shared file."""
    from mambaenv.download import fetch_to  # start-up: the downloader (requests) loads only to hash a wheel

    out = []
    for w in t.wheels:
        if not w.sha256 and not req.offline and w.origin != "conda-forge":
            if w.url not in hashed:
                got, _ = fetch_to(w.url, None, None, None, list(req.mirrors), None, req.show_progress)
                hashed[w.url] = got.sha256
            w = replace(w, sha256=hashed[w.url], hashed="download")
        out.append(w)
    return replace(t, wheels=tuple(out))


def notes_for(targets: list[lock.LockTarget], offline: bool) -> list[str]:
    ws = {w.url: w for t in targets for w in t.wheels}.values()
    notes = [f"{w.filename} is locked by a file:// URL: it installs only where {unquote(urlparse(w.url).path)} is mounted; "
             "serve the wheelhouse (python -m http.server) and lock with --wheelhouse http://HOST:PORT/simple/ for other machines"
             for w in ws if w.url.startswith("file://")]
    unhashed = [w.filename for w in ws if not w.sha256]
    if unhashed:
        notes.append(f"no sha256 known for {', '.join(unhashed)}: the lock cannot pin their bytes (and pip --require-hashes refuses "
                     "such a line); lock without --offline to hash them by downloading")
    return notes


def command_line(req: LockRequest, targets: list[lock.LockTarget]) -> str:
    """The command that writes this lock again, with each target's facts spelled out (a probed env's too)."""
    parts = ["mambaenv", "lock", "--format", req.format]
    for t in targets:
        parts += ["--target", t.label]
    for w in req.wheelhouses:
        parts += ["--wheelhouse", w]
    if req.package != "all":
        parts += ["--package", req.package]
    return shlex.join(parts)


def check_request(req: LockRequest) -> None:
    if req.format not in lock.FORMATS:
        raise BadInput(f"unknown lock format {req.format!r}", f"use --format {'|'.join(lock.FORMATS)}")
    if req.output and req.write:
        raise BadInput("--output and --write both given", "--output writes a new file, --write merges into an existing one: pick one")
    if req.write and req.format not in MERGERS:
        raise BadInput(f"--write merges into pyproject.toml (uv) or pixi.toml (pixi), not a {req.format} file", "write it with --output FILE")
    if req.write and not Path(req.write).is_file():
        raise BadInput(f"--write {req.write}: no such file", "create the project first (uv init / pixi init), or use --output")


def lock_cmd(req: LockRequest) -> LockResult:
    check_request(req)
    hashed: dict[str, str] = {}
    targets = [with_hashes(wheels_for(f, req), req, hashed) for f in req.targets]
    locked = lock.plan_entries(targets, req.format)
    if req.write:
        text = MERGERS[req.format](Path(req.write).read_text(), locked, req.write)
        path = req.write
    else:
        text = lock.render(req.format, locked, command_line(req, targets))
        path = req.output
    if path:
        write_atomically(Path(path), text)
    return LockResult(req.format, targets, text, path, notes_for(targets, req.offline))


def write_atomically(path: Path, text: str) -> None:
    """A temp file in the same folder, renamed over the target: a reader sees the old file or the new one, never half."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.mambaenv-tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, path.stat().st_mode & 0o7777 if path.exists() else 0o666)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError as e:
        raise BadInput(f"cannot write {path} ({e.strerror})", "give a path in a writable folder with free space") from None
    finally:
        tmp.unlink(missing_ok=True)
