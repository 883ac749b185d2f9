"""Plan, check, execute, roll back: install wheels into an env without ever replacing its torch."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock, Timeout

from mambaenv.catalog import load_catalog
from mambaenv.detect.pyenv import PyEnvFacts, probe_python
from mambaenv.digest import sha256_file
from mambaenv.envs import conda, venv
from mambaenv.errors import ExitCode, MambaenvError
from mambaenv.install_errors import read_install_error
from mambaenv.requirement import distribution_name
from mambaenv.resolve import resolve_package
from mambaenv.upstream import PACKAGES
from mambaenv.wheel import BadWheel, WheelInfo, inspect_wheel, mismatches, verify_catalog_digest
from mambaenv.wheelname import safe_filename

RECORD_FILE = "mambaenv-installed.json"
MANIFEST = "mambaenv-bundle.json"
INSTALLER_TAIL = 8000  # characters of pip's/uv's own output kept for --json: the resolver's chain ends there


class InstallError(MambaenvError):
    exit_code = ExitCode.INSTALL_FAILED


@dataclass
class NewEnv:
    target: str  # a name or a path
    python: str | None = None  # "3.8"; None: the base interpreter's
    torch: str | None = None  # "2.0.0": installed first, then pinned
    torch_index: str | None = None
    base_python: str | None = None
    use_conda: bool | None = None  # None: conda when present
    torch_cuda: str | None = None  # "12.8", "none" (CPU-only), None: not said (conda then refuses)
    conda_forge: bool = False  # torch from conda-forge's conda packages instead of PyTorch's pip wheels


@dataclass
class InstallResult:
    python: str
    prefix: str
    created: bool
    installed: list[str]
    torch: str | None
    activate: str
    wheels: list[str] = field(default_factory=list)
    checks: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return self.__dict__.copy()


# --- inputs ---------------------------------------------------------------------------------------

def open_offline_source(source: Path, workdir: Path) -> tuple[list[Path], list[Path]]:
    """A wheel file, a directory of wheels, or a bundle archive -> (package wheels, find-links dirs)."""
    source = Path(source).expanduser()
    if not source.exists():
        raise MambaenvError(f"no such file or directory: {source}", "give the .whl you downloaded, a folder of wheels, or a bundle")
    if source.is_file() and source.suffix == ".whl":
        return [source], [source.parent]
    if source.is_dir():
        return _package_wheels(source), [source]
    if source.is_file() and tarfile.is_tarfile(source):
        return _open_bundle(source, workdir)
    raise MambaenvError(f"{source.name} is neither a wheel, a folder nor a bundle", "give a .whl file, a folder of wheels, or a file made by mambaenv bundle")


def _package_wheels(folder: Path) -> list[Path]:
    found = [p for p in sorted(folder.glob("*.whl")) if p.name.split("-", 1)[0] in PACKAGES]
    if not found:
        raise MambaenvError(f"{folder} holds no mamba_ssm or causal_conv1d wheel", "put the downloaded .whl files there")
    return found


BUNDLE_MAX_MANIFEST = 4 * 1024 * 1024


def _bundle_error(path: Path, what: str) -> MambaenvError:
    return MambaenvError(f"{path.name} {what}", "make the bundle again with mambaenv bundle, or copy it again")


def _member_name(member: tarfile.TarInfo, path: Path) -> str:
    """A bundle holds plain files at its top level only: ``NAME`` or ``./NAME``, nothing else."""
    name = member.name[2:] if member.name.startswith("./") else member.name
    if not member.isreg():
        raise _bundle_error(path, f"holds an unexpected entry {member.name!r} (only plain files belong in a bundle)")
    try:
        return safe_filename(name, path.name)
    except MambaenvError:
        raise _bundle_error(path, f"holds an unexpected entry {member.name!r} (a name must be one plain path component)") from None


def _read_bundle_index(path: Path) -> tuple[dict, dict]:
    """Walk the archive's headers only (nothing written yet): {name: size} of its members, and the manifest."""
    sizes, manifest = {}, None
    free = shutil.disk_usage(tempfile.gettempdir()).free
    try:
        with tarfile.open(path) as tf:
            for member in tf:
                name = _member_name(member, path)
                if sum(sizes.values()) + member.size > free:  # stop a bomb at its first header, before reading on
                    raise MambaenvError(f"{path.name} expands to more than the {free / 1e6:.0f} MB free in {tempfile.gettempdir()}",
                                        "free some space (or set TMPDIR to a bigger disk), or check where the bundle came from")
                if name in sizes:
                    raise _bundle_error(path, f"holds {name} twice")
                sizes[name] = member.size
                if name == MANIFEST:
                    if member.size > BUNDLE_MAX_MANIFEST:
                        raise _bundle_error(path, f"has a {member.size}-byte {MANIFEST}, too big to be one")
                    manifest = json.loads(tf.extractfile(member).read())
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        raise _bundle_error(path, f"is truncated or damaged ({type(e).__name__})") from None
    except ValueError:
        raise _bundle_error(path, f"has an unreadable {MANIFEST}") from None
    if manifest is None:
        raise _bundle_error(path, f"has no {MANIFEST}")
    return sizes, manifest


def _check_manifest(path: Path, sizes: dict, manifest) -> tuple[list[dict], list[str]]:
    """The manifest must list every member with its size and sha256, and name packages among them."""
    files, packages = (manifest.get("files"), manifest.get("packages")) if isinstance(manifest, dict) else (None, None)
    if not isinstance(files, list) or not all(isinstance(f, dict) and isinstance(f.get("name"), str) and isinstance(f.get("sha256"), str)
                                             and isinstance(f.get("size"), int) for f in files):
        raise _bundle_error(path, f"has a {MANIFEST} without a valid 'files' list (name, size, sha256 each)")
    if not isinstance(packages, list) or not packages or not all(isinstance(p, str) for p in packages):
        raise _bundle_error(path, f"has a {MANIFEST} without a valid 'packages' list")
    listed = {f["name"]: f for f in files}
    for name in packages:
        if name not in listed:
            raise _bundle_error(path, f"names a package {name!r} that is not one of its files")
    for name, size in sizes.items():
        if name == MANIFEST:
            continue
        if name not in listed:
            raise _bundle_error(path, f"holds {name}, which its {MANIFEST} does not list")
        if listed[name]["size"] != size:
            raise _bundle_error(path, f"holds {name} of {size} bytes, its {MANIFEST} says {listed[name]['size']}")
    for name in listed:
        if name not in sizes:
            raise _bundle_error(path, f"lacks {name}, which its {MANIFEST} lists")
    return files, packages


def _open_bundle(path: Path, workdir: Path) -> tuple[list[Path], list[Path]]:
    """Check every member before writing any (names, types, sizes against the manifest, free space),
    then extract with the standard library's data filter, then check each file's sha256."""
    sizes, manifest = _read_bundle_index(path)
    files, packages = _check_manifest(path, sizes, manifest)
    dest = workdir / "bundle"
    dest.mkdir(parents=True)
    need, free = sum(sizes.values()), shutil.disk_usage(dest).free
    if need > free - 16 * 1024 * 1024:
        raise MambaenvError(f"{path.name} expands to {need / 1e6:.0f} MB, {dest.parent} has {free / 1e6:.0f} MB free",
                            "free some space (or set TMPDIR to a bigger disk) and run it again")
    try:
        with tarfile.open(path) as tf:
            for member in tf:
                name = _member_name(member, path)  # checked again: the file may have changed since the first pass
                if sizes.get(name) != member.size:
                    raise _bundle_error(path, "changed while it was being read")
                member = member.replace(name=name) if hasattr(member, "replace") else member
                if hasattr(tarfile, "data_filter"):
                    tf.extract(member, dest, filter="data")
                else:  # Python < 3.8.17: write the (already checked) regular file ourselves
                    with tf.extractfile(member) as src, open(dest / name, "xb") as out:
                        shutil.copyfileobj(src, out)
    except (tarfile.TarError, EOFError, zlib.error) as e:
        raise _bundle_error(path, f"is truncated or damaged ({type(e).__name__})") from None
    except OSError as e:
        raise MambaenvError(f"cannot unpack {path.name} into {dest} ({e.strerror})", "free some space or set TMPDIR to a writable disk") from None
    for entry in files:
        f = dest / entry["name"]
        digest = sha256_file(f) if f.is_file() else None
        if digest != entry["sha256"]:
            raise MambaenvError(f"{path.name}: {entry['name']} is {'missing' if digest is None else 'corrupt'}", "copy the bundle again")
    return [dest / n for n in packages], [dest]


# --- checks ---------------------------------------------------------------------------------------

def check_wheels(wheels: list[Path], pyenv: PyEnvFacts, host_glibc: str | None, force: bool) -> list[dict]:
    """Each wheel against the env's facts; the first mismatch refuses the install unless ``force``."""
    env = pyenv.target()
    report = []
    for w in wheels:
        verify_catalog_digest(w)
        info = inspect_wheel(w)
        problems = mismatches(info, env, host_glibc)
        report.append({"wheel": w.name, "problems": problems})
        if problems and not force:
            raise BadWheel(f"{w.name} does not fit this env: {problems[0]}", _right_file_hint(info, env))
    return report


def _right_file_hint(info: WheelInfo, env) -> str:
    package = info.name.package if info.name else None
    if package in PACKAGES:
        try:
            choice = resolve_package(load_catalog(offline=True), package, env)
        except MambaenvError:
            choice = None
        if choice and choice.wheel:
            return f"the right file is {choice.wheel.filename} (or --force to install anyway)"
        if choice:
            return f"no prebuilt wheel fits it ({choice.reason}); see mambaenv doctor (or --force to install anyway)"
    return "use a wheel built for this env, or --force to install anyway"


# --- execution ------------------------------------------------------------------------------------

def _run_logged(cmd: list[str], label: str, status=None) -> subprocess.CompletedProcess:
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in proc.stdout:
        lines.append(line.rstrip())
        if status:
            status(f"{label} ({time.monotonic() - t0:.0f} s): {line.strip()[:90]}")
    proc.wait()
    return subprocess.CompletedProcess(cmd, proc.returncode, "\n".join(lines), "")


def torch_installed(pyenv: PyEnvFacts) -> str | None:
    """torch's version from whichever record the env has: .dist-info, .egg-info/.egg-link, else torch/version.py."""
    return pyenv.package_version("torch") or (pyenv.torch or {}).get("version")


def _torch_fingerprint(pyenv: PyEnvFacts) -> tuple:
    """What must not change: the version in the metadata and in torch/version.py, and where torch lives."""
    t = pyenv.torch or {}
    return pyenv.package_version("torch"), t.get("version"), t.get("dir")


def env_lock_path(pyenv: PyEnvFacts) -> Path:
    """One lock per env, beside its site-packages: check, install, verify and roll back run under it."""
    return Path(pyenv.raw["site_dirs"][0]) / ".mambaenv-install.lock"


def _pin_args(pyenv: PyEnvFacts, workdir: Path) -> tuple[list[str], str | None]:
    torch = torch_installed(pyenv)
    if not torch:
        return [], None
    constraints = workdir / "constraints.txt"
    constraints.write_text(f"torch=={torch}\n")
    return ["--constraint", str(constraints)], torch


def _source_args(find_links: list[Path], offline: bool, index_url: str | None) -> list[str]:
    args = []
    for d in find_links:
        args += ["--find-links", str(d)]
    if offline:
        args.append("--no-index")
    elif index_url:
        args += ["--index-url", index_url]
    return args


def _make_env(spec: NewEnv, find_links: list[Path], offline: bool, status) -> tuple[str, Path, callable]:
    exe = conda.find_frontend() if spec.use_conda is not False else None
    torch_by_pip = bool(spec.torch)
    if exe:
        plan = conda.recipe(spec.python or "3.10", spec.torch, spec.torch_cuda, spec.conda_forge)
        if status:
            status(f"creating conda env {spec.target} with {Path(exe).name}")
        python = conda.create_env(exe, spec.target, plan)
        prefix = Path(python).parent.parent
        cleanup = lambda: conda.remove_env(exe, spec.target, prefix)  # noqa: E731
        torch_by_pip = plan.torch_by_pip
    else:
        prefix = Path(spec.target).expanduser().resolve()
        base = spec.base_python
        if spec.python and not base:
            base = shutil.which(f"python{spec.python}") or spec.python
        if status:
            status(f"creating venv {prefix}")
        python = venv.create_venv(prefix, base)
        cleanup = lambda: shutil.rmtree(prefix, ignore_errors=True)  # noqa: E731
    if torch_by_pip:
        if status:
            status(f"installing torch {spec.torch}")
        args = [f"torch=={spec.torch}"] + _source_args(find_links, offline, spec.torch_index)
        proc = _run_logged(venv.install_command(str(python), args), f"torch {spec.torch}", status)
        if proc.returncode != 0:
            cleanup()

            what, fix = read_install_error(proc.stdout, find_links=find_links, offline=offline)
            raise InstallError(f"installing torch {spec.torch} into the new env failed: {what}",
                               f"check the torch version and where it comes from (--torch-index, --find-links); {fix}",
                               detail=proc.stdout[-INSTALLER_TAIL:])
    return str(python), prefix, cleanup


def _names(freeze_lines: list[str]) -> dict[str, str]:
    out = {}
    for line in freeze_lines:
        name = distribution_name(line)
        if name is not None:  # "-e ..." lines and comments name no distribution
            out[name] = line
    return out


def install(wheels: list[Path], *, python: str | None = None, new_env: NewEnv | None = None, find_links: list[Path] = (),
            offline: bool = False, index_url: str | None = None, force: bool = False, host_glibc: str | None = None,
            status=None, no_deps: bool = False, resolve_wheels=None) -> InstallResult:
    """Check every wheel against the target env, then install it with torch pinned; undo on failure.

    ``resolve_wheels(python) -> [Path]`` supplies the wheels once the (new) env exists, for the online case.
    """
    if not wheels and resolve_wheels is None:
        raise MambaenvError("nothing to install", "give --offline-wheel FILE or let mambaenv resolve wheels")
    for w in wheels or []:  # a broken file is refused before any env is touched
        inspect_wheel(w, read_elf=False)
    find_links = list(find_links)
    with tempfile.TemporaryDirectory(prefix="mambaenv-install-") as tmp:
        workdir = Path(tmp)
        created, cleanup, before, lock = False, None, None, None
        if new_env:
            python, prefix, cleanup = _make_env(new_env, find_links, offline, status)
            created = True
        assert python
        try:
            if resolve_wheels is not None and not wheels:
                wheels = resolve_wheels(python)
            if status:
                status("checking the wheels against the env")
            pyenv = probe_python(python)  # one probe serves the check, the pin and the record's location
            lock, pyenv = _lock_env(pyenv, python, status)
            report = check_wheels(wheels, pyenv, host_glibc, force)
            before = venv.freeze(python)
            pin, torch = _pin_args(pyenv, workdir)
            args = [str(w) for w in wheels] + pin + _source_args(find_links, offline, index_url) + (["--no-deps"] if no_deps else [])
            proc = _run_logged(venv.install_command(python, args), "installing", status)
            if proc.returncode != 0:
                what, fix = read_install_error(proc.stdout, wheels, find_links, before, offline)
                raise InstallError(f"the install failed: {what}", f"nothing was changed; {fix}", detail=proc.stdout[-INSTALLER_TAIL:])
            after = venv.freeze(python)
            probe_after = probe_python(python)
            if _torch_fingerprint(pyenv) != _torch_fingerprint(probe_after):  # the constraint forbids it; checked because it is the promise
                raise InstallError(f"torch changed from {torch} to {torch_installed(probe_after)} during the install",
                                   "report this to mambaenv; install the wheels with --no-deps meanwhile")
        except BaseException as e:
            if created and cleanup:
                cleanup()
            elif before is not None:  # an existing env: take out what this attempt added, and say what could not be undone
                now = _names(venv.freeze(python))
                venv.uninstall(python, sorted(set(now) - set(_names(before))))
                _say_what_stayed(e, before, venv.freeze(python))
            if lock is not None:
                lock.release()
            raise
        try:
            new = sorted(set(after) - set(before))
            _write_record(Path(pyenv.raw["site_dirs"][0]), torch, [w.name for w in wheels], new)
        finally:
            lock.release()
        prefix = Path(python).parent.parent
        activate = f"conda activate {new_env.target}" if created and conda.find_frontend() and new_env.use_conda is not False \
            else f"source {prefix}/bin/activate"
        return InstallResult(python, str(prefix), created, new, torch, activate, [w.name for w in wheels], report)


def _lock_env(pyenv: PyEnvFacts, python: str, status):
    """Take the env's lock; when another install held it, probe again: that install may have changed the env."""
    lock = FileLock(str(env_lock_path(pyenv)))
    try:
        lock.acquire(timeout=0)
        return lock, pyenv
    except Timeout:
        if status:
            status("waiting for another mambaenv install into this env to finish")
        lock.acquire()
    except OSError as e:
        raise InstallError(f"cannot lock the env ({env_lock_path(pyenv)}: {e.strerror})", "install as a user who can write to the env") from None
    try:
        return lock, probe_python(python)
    except BaseException:
        lock.release()
        raise


def _say_what_stayed(e: BaseException, before: list[str], after: list[str]) -> None:
    """A rollback message that claims only what is true: packages whose version moved are named."""
    if not isinstance(e, MambaenvError):
        return
    was, now = _names(before), _names(after)
    moved = sorted(n for n in was if now.get(n) != was[n])
    if moved:
        e.message += f"; rolled back what was added, but {', '.join(moved[:5])} changed and could not be restored"
    else:
        e.message += "; the env was rolled back to what it was"


def _write_record(site: Path, torch: str | None, wheels: list[str], installed: list[str]) -> None:
    """Merge into the env's record (under the env lock, so two installs both appear) and replace it atomically."""
    path = site / RECORD_FILE
    try:
        old = json.loads(path.read_text())
        old = old if isinstance(old, dict) else {}
    except (OSError, ValueError):
        old = {}
    keep = [w for w in old.get("wheels", []) if isinstance(w, str) and w.split("-", 1)[0] not in {n.split("-", 1)[0] for n in wheels}]
    record = {"torch": torch, "wheels": keep + wheels,
              "installed": sorted(set(x for x in old.get("installed", []) if isinstance(x, str)) | set(installed)),
              "time": int(time.time())}
    tmp = path.with_name(f".{RECORD_FILE}.tmp")
    tmp.write_text(json.dumps(record, indent=1))
    os.replace(tmp, path)


__all__ = ["install", "NewEnv", "InstallResult", "open_offline_source", "InstallError", "BadWheel"]
