"""One planner: every command takes its wheels from the same sources in the same order, and probes the target env once.

The order (plan.py): installed -> local build -> wheelhouse -> upstream. Each test puts a wheel in every source it can
(a real venv with the package installed, a real build cache entry, a real wheelhouse folder, the real catalog) and runs
the command as a user would, asserting which source its answer came from.
"""
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from mambaenv.build_cache import BuildKey, store_build
from tests.conftest import run_cli
from tests.fixture_builders import ensure_torch_venv
from tests.wheels import write_wheel

SEAM = {"MAMBAENV_ASSUME_TORCH_CUDA": "12.8"}  # the GPU seam: the fixture's CPU torch 2.13 stands for a CUDA 12.8 build
PY = f"{sys.version_info[0]}.{sys.version_info[1]}"
TAG = f"cp{sys.version_info[0]}{sys.version_info[1]}"
LOCAL = "cu12torch2.13cxx11abiTRUE"
# a different version per source, so the installed version says which source an install took
VERSIONS = {"installed": {"mamba_ssm": "2.2.2"},
            "local-build": {"mamba_ssm": "2.2.4", "causal_conv1d": "1.7.0"},
            "wheelhouse": {"mamba_ssm": "2.3.2.post1", "causal_conv1d": "1.5.0.post8"}}


def name(package: str, version: str) -> str:
    return f"{package}-{version}+{LOCAL}-{TAG}-{TAG}-linux_x86_64.whl"


@pytest.fixture
def env_with_every_source(tmp_path, isolated_cache):
    """A venv that sees the fixture torch, with mamba_ssm installed (its CUDA extension present), a local build of both
    packages in the cache, and a wheelhouse folder holding both: upstream has no wheel for torch 2.13."""
    venv = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python*/site-packages"))
    torch_site = next((ensure_torch_venv().parent.parent / "lib").glob("python*/site-packages"))
    (site / "fixture-torch.pth").write_text(str(torch_site) + "\n")
    py = venv / "bin" / "python"
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    installed = write_wheel(wheels, name("mamba_ssm", VERSIONS["installed"]["mamba_ssm"]), tag=f"{TAG}-{TAG}-linux_x86_64")
    from uv import find_uv_bin

    subprocess.run([find_uv_bin(), "pip", "install", "-q", "--python", str(py), "--no-deps", str(installed)], check=True)
    (site / "selective_scan_cuda.so").write_bytes(b"\x7fELF")  # the extension file a real build installs beside it
    for package, version in VERSIONS["local-build"].items():
        store_build(write_wheel(wheels, name(package, version), tag=f"{TAG}-{TAG}-linux_x86_64"),
                    BuildKey(package, "ab" * 32, "2.13.0", "12.8", PY, True, "9.0"), isolated_cache)
    house = tmp_path / "house"
    house.mkdir()
    for package, version in VERSIONS["wheelhouse"].items():
        write_wheel(house, name(package, version), tag=f"{TAG}-{TAG}-linux_x86_64")
    return py, house, isolated_cache


def origins(answer: dict) -> dict:
    return {p["package"]: p["origin"] for p in answer["packages"]}


def test_resolve_and_doctor_take_the_installed_build_then_the_local_build(env_with_every_source):
    py, house, _ = env_with_every_source
    out = run_cli("resolve", "--python", str(py), "--wheelhouse", str(house), "--offline", "--json", env=SEAM)
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert origins(answer) == {"mamba_ssm": "installed", "causal_conv1d": "local-build"}
    mamba = answer["packages"][0]
    assert [c["origin"] for c in mamba["candidates"]] == ["installed", "local-build", "wheelhouse"]
    assert all(c["fits"] for c in mamba["candidates"]) and mamba["url"] is None  # installed: nothing to fetch
    doc = run_cli("doctor", "--python", str(py), "--wheelhouse", str(house), "--offline", "--json", env=SEAM)
    assert origins(json.loads(doc.stdout)) == {"mamba_ssm": "installed", "causal_conv1d": "local-build"}


def test_download_and_bundle_take_the_local_build_before_the_wheelhouse(env_with_every_source, tmp_path):
    py, house, _ = env_with_every_source
    out = run_cli("download", "--python", str(py), "--wheelhouse", str(house), "--dest", str(tmp_path / "got"), "--offline-catalog",
                  "--json", env=SEAM)
    assert out.returncode == 0, out.stderr
    files = json.loads(out.stdout)["files"]
    assert [(f["origin"], Path(f["file"]).name) for f in files] == \
        [("local-build", name(p, v)) for p, v in VERSIONS["local-build"].items()]
    out = run_cli("bundle", "-o", str(tmp_path / "b.tar"), "--python", str(py), "--wheelhouse", str(house), "--index-url", "none",
                  "--offline-catalog", "--json", env=SEAM)
    assert out.returncode == 0, out.stderr
    made = json.loads(out.stdout)
    assert sorted(made["packages"]) == sorted(name(p, v) for p, v in VERSIONS["local-build"].items())
    assert {s["origin"] for s in made["sources"]} == {"local-build"}


def test_download_takes_the_wheelhouse_when_no_local_build_fits(env_with_every_source, tmp_path):
    py, house, cache = env_with_every_source
    import shutil

    shutil.rmtree(cache / "builds")
    out = run_cli("download", "--python", str(py), "--wheelhouse", str(house), "--dest", str(tmp_path / "got"), "--offline-catalog",
                  "--json", env=SEAM)
    assert out.returncode == 0, out.stderr
    assert [(f["origin"], Path(f["file"]).name) for f in json.loads(out.stdout)["files"]] == \
        [("wheelhouse", name(p, v)) for p, v in VERSIONS["wheelhouse"].items()]


def test_install_keeps_what_is_installed_and_takes_the_local_build_for_the_rest(env_with_every_source):
    py, house, _ = env_with_every_source
    out = run_cli("install", "--python", str(py), "--wheelhouse", str(house), "--no-deps", "--json", env=SEAM)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert {s["package"]: s["origin"] for s in result["sources"]} == {"mamba_ssm": "installed", "causal_conv1d": "local-build"}
    assert versions(py) == {"mamba_ssm": "2.2.2", "causal_conv1d": "1.7.0"}
    again = run_cli("install", "--python", str(py), "--wheelhouse", str(house), "--no-deps", "--reinstall", "--json", env=SEAM)
    assert again.returncode == 0, again.stderr
    assert versions(py)["mamba_ssm"] == "2.2.4"  # --reinstall: the installed build is no answer; the local build is next


def versions(py: Path) -> dict:
    code = "import importlib.metadata as m, json; print(json.dumps({n: m.version(n).split('+')[0] for n in ('mamba_ssm', 'causal_conv1d')}))"
    return json.loads(subprocess.run([str(py), "-c", code], capture_output=True, text=True, check=True).stdout)


def test_docker_builds_wheel_choice_follows_the_same_order(env_with_every_source, tmp_path):
    """The image's facts come from probing it; here they are given (the image would hold the same torch)."""
    from mambaenv.commands.containers import _wheels_for_image
    from mambaenv.facts import TargetEnv

    _, house, _ = env_with_every_source
    image = TargetEnv(python=PY, torch="2.13.0", torch_cuda="12.8", cxx11_abi=True)
    sources = []
    paths = _wheels_for_image(image, tmp_path / "ctx", True, [str(house)], sources)
    assert [s["origin"] for s in sources] == ["local-build", "local-build"]
    assert [p.name for p in paths] == [name(p, v) for p, v in VERSIONS["local-build"].items()]


def test_upstream_answers_after_the_wheelhouse(tmp_path):
    """torch 2.6 has upstream wheels; a wheelhouse wheel for that env comes first, and without it upstream answers."""
    house = tmp_path / "house"
    house.mkdir()
    write_wheel(house, "causal_conv1d-1.5.0.post8+cu12torch2.6cxx11abiTRUE-cp311-cp311-linux_x86_64.whl", tag="cp311-cp311-linux_x86_64")
    facts = ["--python", "3.11", "--torch", "2.6.0", "--torch-cuda", "12.6", "--cxx11abi", "true", "--offline", "--json"]
    first = json.loads(run_cli("resolve", *facts, "--wheelhouse", str(house)).stdout)
    assert origins(first) == {"mamba_ssm": "upstream", "causal_conv1d": "wheelhouse"}
    causal = first["packages"][1]
    assert [c["origin"] for c in causal["candidates"]][:2] == ["wheelhouse", "upstream"]  # then Astral's, passed over
    plain = json.loads(run_cli("resolve", *facts).stdout)
    assert origins(plain) == {"mamba_ssm": "upstream", "causal_conv1d": "upstream"}
    assert plain["packages"][1]["url"].startswith("https://github.com/Dao-AILab/causal-conv1d/releases/download/")


def test_a_wheel_that_does_not_fit_never_wins_over_one_that_does(env_with_every_source):
    """A local build for another Python comes earlier in the order, but the wheelhouse wheel that fits is chosen."""
    py, house, cache = env_with_every_source
    other = "3.9" if PY != "3.9" else "3.10"
    for package in ("mamba_ssm", "causal_conv1d"):
        store_build(write_wheel(cache.parent, f"{package}-9.9.9+{LOCAL}-cp39-cp39-linux_x86_64.whl", tag="cp39-cp39-linux_x86_64"),
                    BuildKey(package, "cd" * 32, "2.13.0", "12.8", other, True, "9.0"), cache)
    import shutil

    for d in (cache / "builds").iterdir():  # only the builds for the other Python are left
        if "9.9.9" not in "".join(p.name for p in d.rglob("*")):
            shutil.rmtree(d)
    out = run_cli("resolve", "--python", str(py), "--package", "causal_conv1d", "--wheelhouse", str(house), "--offline", "--json", env=SEAM)
    causal = json.loads(out.stdout)["packages"][0]
    assert causal["origin"] == "wheelhouse"
    assert [(c["origin"], c["fits"]) for c in causal["candidates"]] == [("wheelhouse", True), ("local-build", False)]
    assert causal["candidates"][1]["reason"] == f"wheel is for Python {other}, this env has Python {PY}"


# --- the target interpreter is probed once per command -------------------------------------------------------------

PROBE_MARK = "Runs INSIDE the target environment"  # the probe script's first line


def counting_python(tmp_path: Path, real: Path) -> tuple[Path, Path]:
    """An interpreter that notes each probe run before it runs it: the real one, behind a shell script."""
    log = tmp_path / "probes.log"
    wrapper = real.parent / "python-counted"
    wrapper.write_text(f'#!/bin/sh\ncase "$2" in *"{PROBE_MARK}"*) echo "probe $3" >> "{log}";; esac\nexec "{real}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return wrapper, log


def probes(log: Path) -> int:
    """Facts probes since the last call. doctor's extension check (probe_script --extensions: it imports torch to load
    the kernels) is another question, asked only when the packages are installed, and is not counted here."""
    lines = log.read_text().splitlines() if log.exists() else []
    log.unlink(missing_ok=True)
    return sum(1 for line in lines if line.strip() == "probe")


def test_each_command_probes_the_target_interpreter_once(env_with_every_source, tmp_path):
    py, house, _ = env_with_every_source
    counted, log = counting_python(tmp_path, py)
    offline_wheel = write_wheel(tmp_path, name("causal_conv1d", "1.4.0"), tag=f"{TAG}-{TAG}-linux_x86_64")
    runs = {
        "resolve": ["resolve", "--python", str(counted), "--offline", "--json"],
        "doctor": ["doctor", "--python", str(counted), "--offline", "--json"],
        "install": ["install", "--python", str(counted), "--wheelhouse", str(house), "--no-deps", "--json"],
        "install --offline-wheel": ["install", "--offline-wheel", str(offline_wheel), "--python", str(counted), "--no-deps", "--json"],
        "download": ["download", "--python", str(counted), "--dest", str(tmp_path / "d"), "--offline-catalog", "--json"],
    }
    seen = {}
    for label, args in runs.items():
        out = run_cli(*args, env=SEAM)
        assert out.returncode in (0, 1), (label, out.stderr)  # doctor: no GPU here, "no working path" is honest
        seen[label] = probes(log)
    assert seen == {label: 1 for label in runs}, seen


@pytest.mark.skipif(not os.environ.get("MAMBAENV_REQUIRE_DOCKER") and subprocess.run(["docker", "info"], capture_output=True).returncode,
                    reason="no Docker engine")
def test_docker_build_probes_its_base_image_once(tmp_path):
    import time

    import docker

    from tests.fixture_builders import docker_base_image

    base = docker_base_image()
    w = write_wheel(tmp_path, "causal_conv1d-1.5.0.post8+cu12torch2.13cxx11abiTRUE-cp311-cp311-linux_x86_64.whl")
    c = docker.from_env(version="auto")
    since = int(time.time()) - 1
    tag = f"mambaenv-probes:{os.getpid()}"
    out = run_cli("docker", "build", "--base-image", base, "--wheel", str(w), "--tag", tag, "--force", "--json")
    try:
        assert out.returncode == 0, out.stderr
        until = int(time.time()) + 1
        created = [e for e in c.events(since=since, until=until, decode=True, filters={"type": "container", "event": "create"})
                   if e.get("Actor", {}).get("Attributes", {}).get("image") == base]
        assert len(created) == 1, created  # the probe's container; the build's own steps run from intermediate images
    finally:
        c.images.remove(tag, force=True)
