"""Plan, check, execute, roll back: install wheels into an env without ever replacing its torch."""
from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from mambaenv.detect.pyenv import PyEnvFacts, probe_python
from mambaenv.envs import conda, venv
from mambaenv.errors import MambaenvError
from mambaenv.wheel import BadWheel, WheelInfo, inspect_wheel, mismatches
from mambaenv.wheelname import PACKAGES

RECORD_FILE = "mambaenv-installed.json"
MANIFEST = "mambaenv-bundle.json"


class InstallError(MambaenvError):
    exit_code = 5


@dataclass
class NewEnv:
    target: str  # a name or a path
    python: str | None = None  # "3.8"; None: the base interpreter's
    torch: str | None = None  # "2.0.0": installed first, then pinned
    torch_index: str | None = None
    base_python: str | None = None
    use_conda: bool | None = None  # None: conda when present


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


def _open_bundle(path: Path, workdir: Path) -> tuple[list[Path], list[Path]]:
    import hashlib

    dest = workdir / "bundle"
    dest.mkdir(parents=True)
    with tarfile.open(path) as tf:
        for member in tf.getmembers():
            if not member.isfile() or "/" in member.name.strip("./") or member.name.startswith(("/", "..")):
                raise MambaenvError(f"{path.name} holds an unexpected entry {member.name!r}", "make the bundle again with mambaenv bundle")
        tf.extractall(dest)
    try:
        manifest = json.loads((dest / MANIFEST).read_text())
    except (OSError, ValueError):
        raise MambaenvError(f"{path.name} has no readable {MANIFEST}", "make the bundle again with mambaenv bundle") from None
    for entry in manifest["files"]:
        f = dest / entry["name"]
        digest = hashlib.sha256(f.read_bytes()).hexdigest() if f.exists() else None
        if digest != entry["sha256"]:
            raise MambaenvError(f"{path.name}: {entry['name']} is {'missing' if digest is None else 'corrupt'}", "copy the bundle again")
    return [dest / n for n in manifest["packages"]], [dest]


# --- checks ---------------------------------------------------------------------------------------

def check_wheels(wheels: list[Path], pyenv: PyEnvFacts, host_glibc: str | None, force: bool) -> list[dict]:
    """Each wheel against the env's facts; the first mismatch refuses the install unless ``force``."""
    env = pyenv.target()
    report = []
    for w in wheels:
        info = inspect_wheel(w)
        problems = mismatches(info, env, host_glibc)
        report.append({"wheel": w.name, "problems": problems})
        if problems and not force:
            raise BadWheel(f"{w.name} does not fit this env: {problems[0]}", _right_file_hint(info, env))
    return report


def _right_file_hint(info: WheelInfo, env) -> str:
    from mambaenv.catalog import load_catalog
    from mambaenv.resolve import resolve_package

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


def _pin_args(pyenv: PyEnvFacts, workdir: Path) -> tuple[list[str], str | None]:
    torch = pyenv.package_version("torch")
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
    if exe and spec.use_conda is not False:
        if status:
            status(f"creating conda env {spec.target} with {Path(exe).name}")
        python = conda.create_env(exe, spec.target, spec.python or "3.10", spec.torch, None)
        prefix = Path(python).parent.parent
        return str(python), prefix, lambda: conda.remove_env(exe, spec.target, prefix)
    prefix = Path(spec.target).expanduser().resolve()
    base = spec.base_python
    if spec.python and not base:
        base = shutil.which(f"python{spec.python}") or spec.python
    if status:
        status(f"creating venv {prefix}")
    python = venv.create_venv(prefix, base)
    cleanup = lambda: shutil.rmtree(prefix, ignore_errors=True)  # noqa: E731
    if spec.torch:
        if status:
            status(f"installing torch {spec.torch}")
        args = [f"torch=={spec.torch}"] + _source_args(find_links, offline, spec.torch_index)
        proc = _run_logged(venv.install_command(str(python), args), f"torch {spec.torch}", status)
        if proc.returncode != 0:
            cleanup()
            from mambaenv.install_errors import read_install_error

            what, fix = read_install_error(proc.stdout, find_links=find_links, offline=offline)
            raise InstallError(f"installing torch {spec.torch} into the new env failed: {what}",
                               f"check the torch version and where it comes from (--torch-index, --find-links); {fix}")
    return str(python), prefix, cleanup


def _last_error(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    errs = [line for line in lines if "error" in line.lower()]
    return (errs or lines or ["no output"])[-1].strip()[:300]


def _names(freeze_lines: list[str]) -> dict[str, str]:
    out = {}
    for line in freeze_lines:
        name = line.split("==")[0].split(" @ ")[0].strip().lower().replace("_", "-")
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
        created, cleanup, before = False, None, None
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
            report = check_wheels(wheels, pyenv, host_glibc, force)
            before = venv.freeze(python)
            pin, torch = _pin_args(pyenv, workdir)
            args = [str(w) for w in wheels] + pin + _source_args(find_links, offline, index_url) + (["--no-deps"] if no_deps else [])
            proc = _run_logged(venv.install_command(python, args), "installing", status)
            if proc.returncode != 0:
                from mambaenv.install_errors import read_install_error

                what, fix = read_install_error(proc.stdout, wheels, find_links, before, offline)
                raise InstallError(f"the install failed: {what}", f"nothing was changed; {fix}")
            after = venv.freeze(python)
            torch_after = probe_python(python).package_version("torch")
            if torch != torch_after:  # cannot happen with the constraint; checked because it is the promise
                raise InstallError(f"torch changed from {torch} to {torch_after}", "report this; the env was rolled back")
        except BaseException:
            if created and cleanup:
                cleanup()
            elif before is not None:  # an existing env: take out what this attempt added
                added = set(_names(venv.freeze(python))) - set(_names(before))
                venv.uninstall(python, sorted(added))
            raise
        new = sorted(set(after) - set(before))
        site = Path(pyenv.raw["site_dirs"][0])
        record = {"torch": torch, "wheels": [w.name for w in wheels], "installed": new, "time": int(time.time())}
        (site / RECORD_FILE).write_text(json.dumps(record, indent=1))
        prefix = Path(python).parent.parent
        activate = f"conda activate {new_env.target}" if created and conda.find_frontend() and new_env.use_conda is not False \
            else f"source {prefix}/bin/activate"
        return InstallResult(python, str(prefix), created, new, torch, activate, [w.name for w in wheels], report)


__all__ = ["install", "NewEnv", "InstallResult", "open_offline_source", "InstallError", "BadWheel"]
