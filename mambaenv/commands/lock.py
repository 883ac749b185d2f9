"""lock: the wheels the planner chose for one or more targets, written as a file the project's own tool installs from.

Each target's answer is ``plan()`` over the origins that have a file a team can fetch (plan.FILE_ORIGINS); a wheel
only this machine has (a local build not published to a wheelhouse) is refused by lock.check_shareable.
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
from mambaenv.packages import get as package_record
from mambaenv.packages import selected
from mambaenv.plan import FILE_ORIGINS, PackagePlan, PlannedWheel, PlanRequest, plan
from mambaenv.target import TargetArgs
from mambaenv.wheelname import parse_wheel_filename

# --target "python=3.11,torch=2.6.0,torch-cuda=12.6,cxx11abi=true": its keys, as the flags of the same name
TARGET_KEYS = {"python": "python", "torch": "torch", "torch-cuda": "torch_cuda", "cxx11abi": "cxx11abi", "machine": "machine",
               "ngc": "ngc", "env": "env"}
MERGERS = {"uv": lock.merge_pyproject, "pixi": lock.merge_pixi}
# where a planned wheel's sha256 came from, when it has one
HASHED_BY_ORIGIN = {"upstream": "catalog", "wheelhouse": "index", "astral": "index"}


@dataclass(frozen=True)
class LockRequest:
    format: str = "requirements"
    targets: tuple[str, ...] = ()  # --target texts; none: the facts flags are the one target
    facts: TargetArgs = TargetArgs()
    offline: bool = False
    wheelhouses: tuple[str, ...] = ()
    package: str = "all"
    output: str | None = None  # write the file here (replaced whole); None: the text goes to stdout
    write: str | None = None  # merge into this existing pyproject.toml (uv) or pixi.toml (pixi)
    mirrors: tuple[str, ...] = ()
    show_progress: bool = True
    no_third_party: bool = False


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


def target_args(req: LockRequest) -> tuple[TargetArgs, ...]:
    """Every --target, or the facts flags as the one target; both at once is a mistake."""
    if req.targets and req.facts != TargetArgs(machine=req.facts.machine):
        raise BadInput("--target and the facts flags (--python, --torch, ...) both given", "put every target's facts in a --target")
    return tuple(parse_target(t) for t in req.targets) or (req.facts,)


def label_of(t: TargetEnv) -> str:
    """The target's facts as a --target value: the same answer again on any machine."""
    abi = "unknown" if t.cxx11_abi is None else str(t.cxx11_abi).lower()
    label = f"python={t.python},torch={t.torch},torch-cuda={t.torch_cuda or 'none'},cxx11abi={abi},machine={t.machine}"
    return label + (f",ngc={t.ngc_version}" if t.ngc_version else "")


def shareable(p: PackagePlan) -> PlannedWheel:
    """The chosen wheel; for a local build, the same file published in a wheelhouse when one lists it."""
    w = p.chosen
    if w.origin == "local-build":
        return next((c for c in p.candidates if c.fits and c.origin == "wheelhouse" and c.filename == w.filename), w)
    return w


def locked_wheel(w: PlannedWheel) -> lock.LockedWheel:
    """A planned wheel as the writers pin it: the version its file name spells, and for an index the pin pip/uv ask it for."""
    name = parse_wheel_filename(w.filename)
    version = f"{name.version}+{name.local_text}" if name and name.local_text else (name.version if name else w.version)
    # a predicted third-party wheel's URL is its project's page on the index: only the index can serve the file
    url = None if w.index and w.source == "predicted" else w.url
    requirement = w.requirement or (f"{package_record(w.package).project}=={version}" if w.index else None)
    return lock.LockedWheel(w.package, version, w.filename, url, w.sha256, w.origin, w.source, w.index,
                            HASHED_BY_ORIGIN.get(w.origin) if w.sha256 else None, requirement)


def no_wheel_error(p: PackagePlan, label: str) -> lock.LockError:
    """The plan's reason, and two ways on: its first alternative, or (for the whole team) build, publish, lock from there."""
    alts = [a.command or a.summary for a in p.alternatives if a.kind != "build"]
    team = (f"build it (mambaenv build --package {p.package}), publish it (mambaenv publish DIST --to WHEELHOUSE) "
            "and lock with --wheelhouse URL")
    return lock.LockError(f"no prebuilt {p.package} wheel fits {label}: {p.reason}", "; or ".join(alts[:1] + [team]))


def planned_target(facts: TargetArgs, req: LockRequest) -> lock.LockTarget:
    """One target's plan over the origins with a file to fetch, as the wheels a lock pins."""
    target = facts.resolve()
    env, label = target.env, label_of(target.env)
    answer = plan(PlanRequest.configured(target, selected(req.package), wheelhouses=req.wheelhouses, no_third_party=req.no_third_party,
                                         offline=req.offline, origins=FILE_ORIGINS))
    for p in answer.missing():
        raise no_wheel_error(p, label)
    wheels = tuple(locked_wheel(shareable(p)) for p in answer.packages)
    return lock.LockTarget(label, env.python, env.machine, env.torch, env.torch_cuda, env.cxx11_abi, wheels)


def with_hashes(t: lock.LockTarget, req: LockRequest, hashed: dict[str, str]) -> lock.LockTarget:
    """Every wheel with a file URL gets a sha256: the list's, else that of the bytes downloaded now (through mambaenv's
    downloader, into its cache, so an install later takes them from there). ``hashed`` spares a second download."""
    from mambaenv.download import fetch_to  # start-up: the downloader (requests) loads only to hash a wheel

    out = []
    for w in t.wheels:
        if not w.sha256 and w.url and not req.offline and w.origin != "conda-forge":
            if w.url not in hashed:
                got, _ = fetch_to(w.url, None, mirrors=req.mirrors, show_progress=req.show_progress)
                hashed[w.url] = got.sha256
            w = replace(w, sha256=hashed[w.url], hashed="download")
        out.append(w)
    return replace(t, wheels=tuple(out))


def notes_for(targets: list[lock.LockTarget]) -> list[str]:
    ws = list({w.key: w for t in targets for w in t.wheels}.values())
    notes = [f"{w.filename} is locked by a file:// URL: it installs only where {unquote(urlparse(w.url).path)} is mounted; "
             "serve the wheelhouse (python -m http.server) and lock with --wheelhouse http://HOST:PORT/simple/ for other machines"
             for w in ws if w.url and w.url.startswith("file://")]
    third = {w.index: [x for x in ws if x.index == w.index] for w in ws if w.origin == "astral"}
    notes += [f"{', '.join(f'{x.package} {x.version}' for x in found)}: third-party builds from {index} (built and GPU-tested by "
              "Astral, not by upstream); --no-third-party locks without them" for index, found in third.items()]
    unhashed = [w.filename for w in ws if not w.sha256 and w.url]
    if unhashed:
        notes.append(f"no sha256 known for {', '.join(unhashed)}: the lock cannot pin their bytes (and pip --require-hashes refuses "
                     "such a line); lock without --offline to hash them by downloading")
    predicted = [w.filename for w in ws if not w.sha256 and not w.url]
    if predicted:
        notes.append(f"{', '.join(predicted)}: predicted from the index's build matrix, so pinned by version without a sha256 "
                     "(pip --require-hashes refuses such a line); lock without --offline to read the index for its file and sha256")
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
    if req.no_third_party:
        parts.append("--no-third-party")
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
    targets = [with_hashes(planned_target(f, req), req, hashed) for f in target_args(req)]
    locked = lock.plan_entries(targets, req.format)
    if req.write:
        text = MERGERS[req.format](Path(req.write).read_text(), locked, req.write)
        path = req.write
    else:
        text = lock.render(req.format, locked, command_line(req, targets))
        path = req.output
    if path:
        write_atomically(Path(path), text)
    return LockResult(req.format, targets, text, path, notes_for(targets))


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
