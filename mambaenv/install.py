"""Plan, check, execute, roll back: install wheels into an env without ever replacing its torch."""
from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock, Timeout

from mambaenv import jsonshape
from mambaenv.atomic import write_bytes
from mambaenv.detect.pyenv import PyEnvFacts, probe_python
from mambaenv.envs import conda, venv
from mambaenv.errors import BadWheel, InstallError, MambaenvError
from mambaenv.install_errors import read_install_error
from mambaenv.packages import of_filename
from mambaenv.requirement import distribution_name
from mambaenv.wheel import inspect_wheel, mismatches, verify_catalog_digest

RECORD_FILE = "mambaenv-installed.json"
INSTALLER_TAIL = 8000  # characters of pip's/uv's own output kept for --json: the resolver's chain ends there




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
    conda: list[str] = field(default_factory=list)  # conda-forge's builds installed with the conda frontend (match specs)

    def to_dict(self) -> dict:
        return self.__dict__.copy()


# --- checks ---------------------------------------------------------------------------------------

def check_wheels(wheels: list[Path], pyenv: PyEnvFacts, host_glibc: str | None, force: bool, right_file=None) -> list[dict]:
    """Each wheel against the env's facts; the first mismatch refuses the install unless ``force``.

    ``right_file(package, pyenv) -> str``: what to use instead, from the command's plan (the refusal's fix)."""
    env = pyenv.target()
    report = []
    for w in wheels:
        verify_catalog_digest(w)
        info = inspect_wheel(w)
        problems = mismatches(info, env, host_glibc)
        report.append({"wheel": w.name, "problems": problems})
        if problems and not force:
            package = of_filename(w.name)
            hint = right_file(package.name, pyenv) if package and right_file else None
            raise BadWheel(f"{w.name} does not fit this env: {problems[0]}", hint or "use a wheel built for this env, or --force to install anyway")
    return report


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


def _torch_state(pyenv: PyEnvFacts, freeze_lines: list[str]) -> tuple:
    """What must not change: torch's line in the installer's freeze, torch/version.py where the probe found torch, and
    conda's record of its pytorch package (read from disk: the env is not probed a second time)."""
    # start-up: only an install reads them (stdlib only)
    from mambaenv.detect.probe_script import conda_torch, torch_version_file

    where = (pyenv.torch or {}).get("dir")
    return (_names(freeze_lines).get("torch"), torch_version_file(where).get("__version__") if where else None,
            conda_torch(pyenv.raw["prefix"]) if pyenv.raw.get("prefix") else None)


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
        python = venv.create_venv(prefix, base, read_install_error)
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
            status=None, no_deps: bool = False, resolve=None, right_file=None) -> InstallResult:
    """Check every wheel against the target env, then install it with torch pinned; undo on failure.

    The env is probed once (a new env: once it has its torch). ``resolve(pyenv) -> ([Path], [spec])`` supplies, for the
    online case, the wheels and the conda-forge builds (conda match specs, installed with the conda frontend first, the
    env's pytorch asked for as it is); ``right_file(package, pyenv) -> str`` names what to use instead when a wheel is refused."""
    if not wheels and resolve is None:
        raise MambaenvError("nothing to install", "give --offline-wheel FILE or let mambaenv resolve wheels")
    for w in wheels or []:  # a broken file is refused before any env is touched
        inspect_wheel(w, read_elf=False)
    find_links = list(find_links)
    with tempfile.TemporaryDirectory(prefix="mambaenv-install-") as tmp:
        workdir = Path(tmp)
        created, cleanup, before, lock, conda_before, specs = False, None, None, None, None, []
        if new_env:
            python, prefix, cleanup = _make_env(new_env, find_links, offline, status)
            created = True
        assert python
        try:
            pyenv = probe_python(python)  # the command's one probe: the plan, the check, the pin and the record use it
            if resolve is not None and not wheels:
                wheels, specs = resolve(pyenv)
            lock, pyenv = _lock_env(pyenv, python, status)
            if status:
                status("checking the wheels against the env")
            report = check_wheels(wheels, pyenv, host_glibc, force, right_file)
            before = venv.freeze(python)
            torch_before = _torch_state(pyenv, before)
            pin, torch = _pin_args(pyenv, workdir)
            if specs:
                conda_before = Path(pyenv.raw["prefix"]), conda.packages(pyenv.raw["prefix"])
                _run_conda_install(pyenv, specs, status)
            after = _run_install(python, wheels, pin, find_links, offline, index_url, no_deps, before, status) if wheels else venv.freeze(python)
            if _torch_state(pyenv, after) != torch_before:  # the constraint forbids it; checked because it is the promise
                raise InstallError(f"torch changed from {torch} to {_names(after).get('torch') or 'another build'} during the install",
                                   "report this to mambaenv; install the wheels with --no-deps meanwhile")
        except BaseException as e:
            _undo(e, created, cleanup, before, python, conda_before)
            if lock is not None:
                lock.release()
            raise
        try:
            new = sorted(set(after) - set(before))
            if wheels or specs:
                _write_record(Path(pyenv.raw["site_dirs"][0]), torch, [w.name for w in wheels], new)
        finally:
            lock.release()
        prefix = Path(python).parent.parent
        activate = f"conda activate {new_env.target}" if created and conda.find_frontend() and new_env.use_conda is not False \
            else f"source {prefix}/bin/activate"
        return InstallResult(python, str(prefix), created, new, torch, activate, [w.name for w in wheels], report, list(specs))


def _run_conda_install(pyenv: PyEnvFacts, specs: list[str], status) -> None:
    """conda-forge's builds, with the conda frontend on PATH; the env's exact pytorch is asked for too, so conda keeps it."""
    exe = conda.find_frontend()
    if exe is None:
        raise InstallError(f"conda-forge's {', '.join(specs)} installs with conda, mamba or micromamba, and none is on PATH",
                           "put one on PATH (the env was made by one), or use mambaenv doctor's conda install command")
    keep = pyenv.target().torch_conda or f"pytorch={torch_installed(pyenv)}"
    if status:
        status(f"installing {', '.join(specs)} from conda-forge with {Path(exe).name}")
    proc = _run_logged(conda.install_command(exe, Path(pyenv.raw["prefix"]), specs, keep), "conda install", status)
    if proc.returncode != 0:
        last = (proc.stdout.strip().splitlines() or ["failed"])[-1]
        raise InstallError(f"{Path(exe).name} could not install {', '.join(specs)} from conda-forge: {last}",
                           "check that the env's pytorch is conda-forge's and that the channel has that build",
                           detail=proc.stdout[-INSTALLER_TAIL:])


def _run_install(python, wheels, pin, find_links, offline, index_url, no_deps, before, status) -> list[str]:
    """pip/uv install of the wheels, torch pinned; the env's freeze afterwards."""
    args = [str(w) for w in wheels] + pin + _source_args(find_links, offline, index_url) + (["--no-deps"] if no_deps else [])
    proc = _run_logged(venv.install_command(python, args), "installing", status)
    if proc.returncode != 0:
        what, fix = read_install_error(proc.stdout, wheels, find_links, before, offline)
        raise InstallError(f"the install failed: {what}", f"nothing was changed; {fix}", detail=proc.stdout[-INSTALLER_TAIL:])
    return venv.freeze(python)


def _undo(e: BaseException, created: bool, cleanup, before, python, conda_before: tuple[Path, set[str]] | None = None) -> None:
    """A new env is removed; an existing one loses what this attempt added (conda's packages with conda, the rest with
    pip/uv), and the error says what could not be undone."""
    if created and cleanup:
        cleanup()
    elif before is not None:
        if conda_before is not None:
            _conda_remove_added(*conda_before)
        now = _names(venv.freeze(python))
        venv.uninstall(python, sorted(set(now) - set(_names(before))))
        _say_what_stayed(e, before, venv.freeze(python))


def _conda_remove_added(prefix: Path, before: set[str]) -> None:
    added, exe = sorted(conda.packages(prefix) - before), conda.find_frontend()
    if added and exe:
        subprocess.run(conda.remove_packages_command(exe, prefix, added), capture_output=True)


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
    try:  # a damaged record (any shape, any depth) starts afresh
        old = jsonshape.loads(jsonshape.read_file(path, str(path), 1 << 20), str(path))
        old = old if not jsonshape.problem(old, {"?wheels": [str], "?installed": [str]}) else {}
    except (OSError, ValueError):
        old = {}
    keep = [w for w in old.get("wheels", []) if w.split("-", 1)[0] not in {n.split("-", 1)[0] for n in wheels}]
    record = {"torch": torch, "wheels": keep + wheels, "installed": sorted(set(old.get("installed", [])) | set(installed)),
              "time": int(time.time())}
    write_bytes(path, json.dumps(record, indent=1).encode())


__all__ = ["install", "NewEnv", "InstallResult", "InstallError", "BadWheel"]
