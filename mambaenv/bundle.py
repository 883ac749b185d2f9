"""Offline bundles: both wheels, their dependency wheels and a manifest, for a server without a route out; written
here for a connected machine, and read here (with every member checked before anything is written) on the server."""
from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zlib
from pathlib import Path

from mambaenv import jsonshape
from mambaenv.atomic import replaced_on_success
from mambaenv.digest import sha256_file
from mambaenv.errors import MambaenvError
from mambaenv.packages import of_filename
from mambaenv.requirement import dependencies_to_download
from mambaenv.wheel import inspect_wheel, verify_catalog_digest
from mambaenv.wheelname import safe_filename

MANIFEST = "mambaenv-bundle.json"  # the member that lists every other one (install reads bundles: install.py)


def _pip_platforms(machine: str) -> list[str]:
    out = []
    for glibc in range(17, 36):
        out += ["--platform", f"manylinux_2_{glibc}_{machine}"]
    return out + ["--platform", f"manylinux2014_{machine}", "--platform", f"linux_{machine}"]


def download_dependencies(wheels: list[Path], env, dest: Path, index_url: str | None, find_links: list[str]) -> None:
    """Dependency wheels for the target's Python/platform, torch left out (the env keeps its own)."""
    reqs = dependencies_to_download([r for w in wheels for r in inspect_wheel(w, read_elf=False).requires])
    if not reqs:
        return
    cmd = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "-q", "--only-binary=:all:", "-d", str(dest),
           "--python-version", env.python, "--implementation", "cp", *_pip_platforms(env.machine), *reqs]
    if index_url == "none":
        cmd += ["--no-index"]
    elif index_url:
        cmd += ["--index-url", index_url]
    for fl in find_links:
        cmd += ["--find-links", fl]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["failed"])[-1]
        raise MambaenvError(f"could not download the dependency wheels: {last}", "check the index (--index-url) or add --find-links")


def make_bundle(output, *, env, wheels: list[Path], index_url: str | None = None, find_links=(),
                server_python: str | None = None) -> dict:
    """Pack the package wheels (each checked whole, and against the release's sha256 when it is upstream's), their
    dependency wheels for the target's Python and machine (torch left out) and a manifest into one tar file.

    ``server_python``: the interpreter the bundle is for (from a doctor --json file), named in the next commands."""
    out = Path(output)
    with tempfile.TemporaryDirectory(prefix="mambaenv-bundle-") as tmp:
        stage = Path(tmp)
        packages = []
        for src in map(Path, wheels):
            inspect_wheel(src, read_elf=False)
            verify_catalog_digest(src)
            shutil.copyfile(src, stage / src.name)
            packages.append(src.name)
        download_dependencies([stage / p for p in packages], env, stage, index_url, list(find_links))
        files = []
        for f in sorted(stage.iterdir()):
            files.append({"name": f.name, "sha256": sha256_file(f), "size": f.stat().st_size})
        manifest = {"schema": 1, "env": env.to_dict(), "packages": packages, "files": files}
        (stage / MANIFEST).write_text(json.dumps(manifest, indent=1))
        try:  # written under a fresh name and renamed in: a half-written bundle never stays, a planted link is never followed
            with replaced_on_success(out) as raw, tarfile.open(fileobj=raw, mode="w") as tf:
                for f in sorted(stage.iterdir()):
                    tf.add(f, arcname=f.name)
        except OSError as e:
            raise MambaenvError(f"cannot write {out} ({e.strerror})", "give -o a writable place with enough free space") from None
    return {"bundle": str(out), "env": f"Python {env.python}, torch {env.torch}, CUDA {env.torch_cuda}", "files": files,
            "bytes": out.stat().st_size, "packages": packages, "next": server_commands(out, env, server_python)}


def server_commands(bundle: Path, env, python: str | None) -> list[str]:
    """What to run on the server. The bundle carries no torch (the env keeps its own): it goes into the env that has
    that torch, or into a fresh env whose torch comes from wheels the server has (--find-links)."""
    name = shlex.quote(bundle.name)
    into = shlex.quote(python) if python else "PATH/TO/ENV/bin/python"
    return [f"mambaenv install --offline-wheel {name} --python {into}   # the env with torch {env.torch}",
            f"mambaenv install --offline-wheel {name} --new-env mamba_env --python {env.python} --torch {env.torch} "
            "--find-links DIR_WITH_TORCH_WHEELS --venv   # a fresh env"]


# --- reading: an offline source (a wheel, a folder of wheels, or a bundle) ------------------------------

def open_offline_source(source: Path, workdir: Path) -> tuple[list[Path], list[Path]]:
    """A wheel file, a directory of wheels, or a bundle archive -> (package wheels, find-links dirs)."""
    source = Path(source).expanduser()
    if not source.exists():
        raise MambaenvError(f"no such file or directory: {source}", "give the .whl you downloaded, a folder of wheels, or a bundle")
    if source.is_file() and source.suffix == ".whl":
        if not of_filename(source.name):  # a valid wheel, of something mambaenv does not install
            project = source.name.split("-", 1)[0]
            raise MambaenvError(f"{source.name} is a {project} wheel; --offline-wheel takes a mamba_ssm or causal_conv1d wheel, "
                                "a folder of wheels or a bundle", f"install {project} with pip (python -m pip install {source.name}); "
                                "a folder given to --find-links also serves it as a dependency")
        return [source], [source.parent]
    if source.is_dir():
        return _package_wheels(source), [source]
    if source.is_file() and tarfile.is_tarfile(source):
        return _open_bundle(source, workdir)
    raise MambaenvError(f"{source.name} is neither a wheel, a folder nor a bundle", "give a .whl file, a folder of wheels, or a file made by mambaenv bundle")


def _package_wheels(folder: Path) -> list[Path]:
    found = [p for p in sorted(folder.glob("*.whl")) if of_filename(p.name)]
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
                    manifest = jsonshape.loads(tf.extractfile(member).read(), MANIFEST)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
        raise _bundle_error(path, f"is truncated or damaged ({type(e).__name__})") from None
    except ValueError as e:
        raise _bundle_error(path, f"has an unreadable {MANIFEST}: {e}") from None
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
