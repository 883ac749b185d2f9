"""Offline bundles: both wheels, their dependency wheels and a manifest, for a server without a route out."""
from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from mambaenv.catalog import load_catalog
from mambaenv.config import cache_dir
from mambaenv.digest import sha256_file
from mambaenv.download import fetch_to
from mambaenv.errors import MambaenvError
from mambaenv.facts import TargetEnv
from mambaenv.install import MANIFEST
from mambaenv.requirement import dependencies_to_download
from mambaenv.resolve import resolve_all
from mambaenv.target import explicit_target
from mambaenv.wheel import inspect_wheel, verify_catalog_digest


def _target(python, torch, torch_cuda, cxx11abi, machine, ngc, from_doctor):
    if from_doctor:
        if not Path(from_doctor).is_file():
            raise MambaenvError(f"--from {from_doctor}: no such file", "run mambaenv doctor --json > doctor.json on the server and copy it here")
        try:
            data = json.loads(Path(from_doctor).read_text())
            return TargetEnv(**data["target"])
        except (OSError, ValueError, KeyError, TypeError):
            raise MambaenvError(f"{from_doctor} is not a mambaenv doctor --json file", "run mambaenv doctor --json > doctor.json on the server") from None
    if not (python and torch):
        raise MambaenvError("bundle needs the target env", "give --python, --torch, --torch-cuda, --cxx11abi, or --from doctor.json")
    return explicit_target(python, torch, torch_cuda, cxx11abi, machine, ngc)


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


def make_bundle(output, python, torch, torch_cuda, cxx11abi, machine, ngc, from_doctor, local_wheels, mirrors, index_url,
                find_links, offline_catalog, show_progress=True) -> dict:
    env = _target(python, torch, torch_cuda, cxx11abi, machine, ngc, from_doctor)
    out = Path(output)
    with tempfile.TemporaryDirectory(prefix="mambaenv-bundle-") as tmp:
        stage = Path(tmp)
        if local_wheels:
            packages = []
            for w in local_wheels:
                src = Path(w)
                inspect_wheel(src, read_elf=False)
                verify_catalog_digest(src)
                shutil.copyfile(src, stage / src.name)
                packages.append(src.name)
        else:
            choices = resolve_all(load_catalog(None if offline_catalog else cache_dir(), offline=offline_catalog), env)
            missing = [c for c in choices if not c.wheel]
            if missing:
                raise MambaenvError(f"no prebuilt {missing[0].package} wheel fits: {missing[0].reason}", "build one with mambaenv build, then --wheel FILE")
            packages = []
            for c in choices:
                _, placed = fetch_to(c.wheel.url, stage, c.wheel.sha256, c.wheel.size, mirrors, None, show_progress)
                packages.append(placed.name)
        download_dependencies([stage / p for p in packages], env, stage, index_url, find_links)
        files = []
        for f in sorted(stage.iterdir()):
            files.append({"name": f.name, "sha256": sha256_file(f), "size": f.stat().st_size})
        manifest = {"schema": 1, "env": env.to_dict(), "packages": packages, "files": files}
        (stage / MANIFEST).write_text(json.dumps(manifest, indent=1))
        tmp_out = out.with_name(f".{out.name}.part")
        try:
            with tarfile.open(tmp_out, "w") as tf:
                for f in sorted(stage.iterdir()):
                    tf.add(f, arcname=f.name)
            os.replace(tmp_out, out)
        except OSError as e:
            raise MambaenvError(f"cannot write {out} ({e.strerror})", "give -o a writable place with enough free space") from None
        finally:
            tmp_out.unlink(missing_ok=True)  # a half-written bundle never stays behind
    return {"bundle": str(out), "env": f"Python {env.python}, torch {env.torch}, CUDA {env.torch_cuda}", "files": files,
            "bytes": out.stat().st_size, "packages": packages, "next": server_commands(out, env, from_doctor)}


def server_commands(bundle: Path, env, from_doctor) -> list[str]:
    """What to run on the server. The bundle carries no torch (the env keeps its own): it goes into the env that has
    that torch, or into a fresh env whose torch comes from wheels the server has (--find-links)."""
    python = None
    if from_doctor:
        try:
            python = json.loads(Path(from_doctor).read_text())["pyenv"]["python_path"]
        except (OSError, ValueError, KeyError, TypeError):
            python = None
    name = shlex.quote(bundle.name)
    into = shlex.quote(python) if python else "PATH/TO/ENV/bin/python"
    return [f"mambaenv install --offline-wheel {name} --python {into}   # the env with torch {env.torch}",
            f"mambaenv install --offline-wheel {name} --new-env mamba_env --python {env.python} --torch {env.torch} "
            "--find-links DIR_WITH_TORCH_WHEELS --venv   # a fresh env"]
