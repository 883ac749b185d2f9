"""Install with real venvs, real pip/uv and pure-Python builds of the real sdists."""
import json
import shutil
import subprocess
import sys

import pytest

from tests.conftest import run_cli
from tests.fixture_builders import FIXTURE_LOCAL, fixture_wheel, wheelhouse
from tests.wheels import write_wheel

SEAM = {"MAMBAENV_ASSUME_TORCH_CUDA": "12.8"}  # the GPU seam: this CPU torch stands for a CUDA 12 build


FREEZE = ("import importlib.metadata as m; "
          "print('\\n'.join(sorted(d.metadata['Name'].lower().replace('_', '-') + '==' + d.version for d in m.distributions())))")


def freeze(python) -> str:
    """name==version of every distribution in the env, read by the env's own interpreter (works without pip)."""
    return subprocess.run([str(python), "-c", FREEZE], capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def fixtures():
    return {"mamba": fixture_wheel("mamba_ssm", "2.2.4"), "causal": fixture_wheel("causal_conv1d", "1.5.0.post8"), "house": wheelhouse()}


@pytest.fixture
def wheel_dir(tmp_path, fixtures):
    d = tmp_path / "wheels"
    d.mkdir()
    for k in ("mamba", "causal"):
        shutil.copy(fixtures[k], d)
    return d


@pytest.fixture
def env_with_torch(tmp_path, fixtures):
    """A fresh venv holding only torch (made by mambaenv itself, offline from the wheelhouse)."""
    from uv import find_uv_bin

    prefix = tmp_path / "base-env"
    uv = find_uv_bin()
    subprocess.run([uv, "venv", "-q", "--seed", "--python", sys.executable, str(prefix)], check=True)
    py = prefix / "bin" / "python"
    subprocess.run([uv, "pip", "install", "-q", "--python", str(py), "--no-index", "--find-links", str(fixtures["house"]), "torch"], check=True)
    return py


def test_fresh_env_offline_install_keeps_torch_and_records_it(tmp_path, wheel_dir, fixtures):
    target = tmp_path / "mamba_env"
    out = run_cli("install", "--offline-wheel", str(wheel_dir), "--new-env", str(target), "--torch", "2.13.0",
                  "--find-links", str(fixtures["house"]), "--venv", "--json", env=SEAM)
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    py = target / "bin" / "python"
    assert res["created"] and res["torch"].startswith("2.13.0") and res["activate"] == f"source {target}/bin/activate"
    lines = freeze(py)
    assert "mamba-ssm==2.2.4" in lines and "causal-conv1d==1.5.0.post8" in lines and "einops==" in lines
    assert "torch==2.13.0+cpu" in lines
    record = json.loads(next((target / "lib").glob("python*/site-packages/mambaenv-installed.json")).read_text())
    assert record["torch"].startswith("2.13.0")
    # doctor now sees the record and the missing CUDA extension of a pure-Python build
    doc = json.loads(run_cli("doctor", "--python", str(py), "--json", "--offline", env=SEAM).stdout)
    names = {c["name"]: c for c in doc["checks"]}
    assert names["installed:mamba_ssm"]["status"] == "warn" and "selective_scan_cuda" in names["installed:mamba_ssm"]["detail"]


@pytest.mark.parametrize("rename,words", [
    (lambda n: n, "this env's torch is CPU-only"),  # no seam: the CPU torch is what it is
    (lambda n: n.replace("cp311-cp311", "cp310-cp310"), "Python 3.10"),
    (lambda n: n.replace(FIXTURE_LOCAL, "cu12torch2.6cxx11abiTRUE"), "torch 2.6"),
    (lambda n: n.replace(FIXTURE_LOCAL, "cu12torch2.13cxx11abiFALSE"), "cxx11abiFALSE"),
    (lambda n: n.replace(FIXTURE_LOCAL, "cu11torch2.13cxx11abiTRUE"), "CUDA 11"),
])
def test_a_mismatched_wheel_is_refused_and_the_env_is_untouched(tmp_path, env_with_torch, fixtures, rename, words):
    wheel = tmp_path / rename(fixtures["mamba"].name)
    shutil.copy(fixtures["mamba"], wheel)
    seam = {} if "CPU-only" in words else SEAM
    before = freeze(env_with_torch)
    out = run_cli("install", "--offline-wheel", str(wheel), "--python", str(env_with_torch), env=seam)
    assert out.returncode == 4, out.stderr
    err = out.stderr.strip().splitlines()
    assert len(err) == 1 and words in err[0] and "does not fit this env" in err[0]
    assert freeze(env_with_torch) == before


def test_a_truncated_wheel_is_refused_before_touching_anything(tmp_path, env_with_torch, fixtures):
    bad = tmp_path / fixtures["mamba"].name
    bad.write_bytes(fixtures["mamba"].read_bytes()[:5000])
    before = freeze(env_with_torch)
    out = run_cli("install", "--offline-wheel", str(bad), "--python", str(env_with_torch), env=SEAM)
    assert out.returncode == 4 and "not a whole wheel" in out.stderr
    assert freeze(env_with_torch) == before


def test_force_installs_a_mismatch_but_still_never_moves_torch(tmp_path, env_with_torch, fixtures):
    wheel = tmp_path / fixtures["causal"].name.replace(FIXTURE_LOCAL, "cu12torch2.6cxx11abiTRUE")
    shutil.copy(fixtures["causal"], wheel)
    out = run_cli("install", "--offline-wheel", str(wheel), "--python", str(env_with_torch), "--force",
                  "--find-links", str(fixtures["house"]), env=SEAM)
    assert out.returncode == 0, out.stderr
    assert "torch==2.13.0" in freeze(env_with_torch)


def test_a_wheel_that_wants_another_torch_fails_and_is_rolled_back(tmp_path, env_with_torch, fixtures):
    name = f"causal_conv1d-9.9.9+{FIXTURE_LOCAL}-cp311-cp311-linux_x86_64.whl"
    wheel = write_wheel(tmp_path, name, requires=["torch>=9", "einops"])
    before = freeze(env_with_torch)
    out = run_cli("install", "--offline-wheel", str(wheel), "--python", str(env_with_torch), "--find-links", str(fixtures["house"]), env=SEAM)
    assert out.returncode == 5 and "the install failed" in out.stderr
    assert freeze(env_with_torch) == before


def test_a_fresh_env_that_fails_midway_is_removed(tmp_path, fixtures):
    name = f"causal_conv1d-9.9.9+{FIXTURE_LOCAL}-cp311-cp311-linux_x86_64.whl"
    wheel = write_wheel(tmp_path, name, requires=["a-package-that-is-nowhere"])
    target = tmp_path / "half"
    out = run_cli("install", "--offline-wheel", str(wheel), "--new-env", str(target), "--torch", "2.13.0", "--venv",
                  "--find-links", str(fixtures["house"]), env=SEAM)
    assert out.returncode == 5
    assert not target.exists()


def test_bundle_round_trip_installs_with_no_network(tmp_path, fixtures):
    bundle = tmp_path / "mamba.bundle"
    out = run_cli("bundle", "-o", str(bundle), "--wheel", str(fixtures["mamba"]), "--wheel", str(fixtures["causal"]),
                  "--python", "3.11", "--torch", "2.13.0", "--torch-cuda", "12.8", "--cxx11abi", "true",
                  "--index-url", "none", "--find-links", str(fixtures["house"]), "--json")
    assert out.returncode == 0, out.stderr
    made = json.loads(out.stdout)
    names = {f["name"] for f in made["files"]}
    assert "einops" in " ".join(names) and not any(n.startswith("torch-") for n in names)
    # the fresh-env command that bundle prints for the server, run as printed (the folder names filled in)
    import shlex

    target = tmp_path / "srv_env"
    printed = shlex.split(made["next"][1].split("#")[0])
    assert printed[:2] == ["mambaenv", "install"] and "--torch" in printed and "2.13.0" in printed
    args = [str(bundle) if a == bundle.name else str(target) if a == "mamba_env" else str(fixtures["house"]) if a == "DIR_WITH_TORCH_WHEELS"
            else a for a in printed[1:]]
    out = run_cli(*args, env=SEAM)
    assert out.returncode == 0, out.stderr
    assert "einops" in freeze(target / "bin" / "python")


def test_a_tampered_bundle_is_refused(tmp_path, fixtures):
    import tarfile

    bundle = tmp_path / "b.tar"
    out = run_cli("bundle", "-o", str(bundle), "--wheel", str(fixtures["causal"]), "--python", "3.11", "--torch", "2.13.0",
                  "--torch-cuda", "12.8", "--cxx11abi", "true", "--index-url", "none", "--find-links", str(fixtures["house"]))
    assert out.returncode == 0, out.stderr
    work = tmp_path / "x"
    with tarfile.open(bundle) as tf:
        tf.extractall(work)
    victim = next(work.glob("ninja-*.whl"))
    victim.write_bytes(victim.read_bytes()[:-10] + b"0123456789")
    evil = tmp_path / "evil.tar"
    with tarfile.open(evil, "w") as tf:
        for f in work.iterdir():
            tf.add(f, arcname=f.name)
    out = run_cli("install", "--offline-wheel", str(evil), "--new-env", str(tmp_path / "e"), "--venv", env=SEAM)
    assert out.returncode == 2 and "corrupt" in out.stderr
    assert not (tmp_path / "e").exists()


def test_online_install_into_a_new_env_resolves_downloads_and_installs(tmp_path, fixtures):
    """The whole online path, with a loopback server standing in for GitHub (API and a mirror)."""
    from tests.httpserver import LoopbackServer, Route, sha256

    assets = {"mamba_ssm": ("state-spaces/mamba", "v2.2.4", fixtures["mamba"]),
              "causal_conv1d": ("Dao-AILab/causal-conv1d", "v1.5.0.post8", fixtures["causal"])}
    with LoopbackServer() as srv:
        for repo, tag, wheel in assets.values():
            data = wheel.read_bytes()
            url = f"https://github.com/{repo}/releases/download/{tag}/{wheel.name.replace('+', '%2B')}"
            srv.add(f"/repos/{repo}/releases", Route(json_body=[{"tag_name": tag, "assets": [
                {"name": wheel.name, "size": len(data), "digest": "sha256:" + sha256(data), "browser_download_url": url}]}]))
            srv.add("/gh/" + url, Route(body=data))
        env = dict(SEAM, MAMBAENV_MIRROR=srv.url("/gh/"), MAMBAENV_MIRROR_ONLY="1")
        assert run_cli("catalog", "refresh", "--api", srv.base, env=env).returncode == 0
        target = tmp_path / "online_env"
        out = run_cli("install", "--new-env", str(target), "--venv", "--torch", "2.13.0", "--no-index",
                      "--find-links", str(fixtures["house"]), "--json", env=env)
        assert out.returncode == 0, out.stderr
        served = [p for _, p, _ in srv.requests if p.startswith("/gh/")]
    assert any("mamba_ssm-2.2.4" in p for p in served) and any("causal_conv1d-1.5.0.post8" in p for p in served)
    lines = freeze(target / "bin" / "python")
    assert "mamba-ssm==2.2.4" in lines and "causal-conv1d==1.5.0.post8" in lines and "torch==2.13.0+cpu" in lines


def test_a_local_build_in_the_cache_is_what_doctor_offers_and_install_takes(tmp_path, env_with_torch, fixtures, isolated_cache, monkeypatch):
    """torch 2.13 has no upstream wheel: after `mambaenv build`, doctor says so as information and names the cached
    build, and an online install takes it from the cache without asking any server."""
    from mambaenv.build_cache import key_for_target, store_build
    from mambaenv.detect.pyenv import probe_python

    for k, v in SEAM.items():
        monkeypatch.setenv(k, v)
    target = probe_python(str(env_with_torch)).target()
    for package, wheel in (("mamba_ssm", fixtures["mamba"]), ("causal_conv1d", fixtures["causal"])):
        store_build(wheel, key_for_target(package, target, "ab" * 32, ["9.0"]), isolated_cache)
    doc = json.loads(run_cli("doctor", "--python", str(env_with_torch), "--json", "--offline").stdout)
    checks = {c["name"]: c for c in doc["checks"]}
    assert checks["wheel:mamba_ssm"]["status"] == "info" and "local build for this env is in the cache" in checks["wheel:mamba_ssm"]["detail"]
    assert "nvcc" not in checks  # a cached build needs no toolkit (ok stays False here: no NVIDIA driver on this machine)
    human = run_cli("doctor", "--python", str(env_with_torch), "--offline").stdout
    footer = human.split("causal_conv1d ", 1)[-1]  # after the table: the answer per package
    assert "in the cache" in footer and "mambaenv build --package" not in human
    before = freeze(env_with_torch)
    # MIRROR_ONLY with no mirror: any download would fail at once, so success proves the cache was used
    out = run_cli("install", "--python", str(env_with_torch), "--find-links", str(fixtures["house"]), "--json",
                  env={"MAMBAENV_MIRROR_ONLY": "1"})
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert {s["package"]: s["origin"] for s in res["sources"]} == {"mamba_ssm": "local-build", "causal_conv1d": "local-build"}
    after = freeze(env_with_torch)
    assert "mamba-ssm==2.2.4" in after and "causal-conv1d==1.5.0.post8" in after
    assert [x for x in before.splitlines() if x.startswith("torch==")] == [x for x in after.splitlines() if x.startswith("torch==")]
