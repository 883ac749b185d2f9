"""Local builds kept once per environment: the key, the lookup, whole-or-nothing storing, and `build`,
`docker build`'s wheel source and the smoke record reading or writing the cache."""
import hashlib
import json
from pathlib import Path

import pytest

from mambaenv.build_cache import BuildKey, cached_builds, find_cached_build, key_for_target, store_build
from mambaenv.facts import TargetEnv
from tests.fixture_builders import SDISTS
from tests.wheels import write_wheel

H200_ENV = TargetEnv(python="3.12", torch="2.11.0+cu130", torch_cuda="13.0", cxx11_abi=True)
WHEEL = "causal_conv1d-1.7.0+cu13torch2.11cxx11abiTRUE-cp312-cp312-linux_x86_64.whl"


def key(**over) -> BuildKey:
    facts = dict(package="causal_conv1d", sdist_sha256="ab" * 32, torch="2.11.0+cu130", torch_cuda="13.0", python="3.12",
                 cxx11_abi=True, archs="9.0")
    facts.update(over)
    return BuildKey(**facts)


@pytest.fixture
def built(tmp_path):
    (tmp_path / "out").mkdir()
    return write_wheel(tmp_path / "out", WHEEL, tag="cp312-cp312-linux_x86_64")


def test_a_stored_build_is_found_by_the_same_key_and_by_no_other(tmp_path, built):
    cache = tmp_path / "cache"
    stored = store_build(built, key(), cache, {"seconds": 82.5})
    assert stored.read_bytes() == built.read_bytes()
    assert find_cached_build(key(), cache) == stored
    for other in (dict(sdist_sha256="cd" * 32), dict(torch="2.10.0+cu130"), dict(python="3.11"), dict(cxx11_abi=False),
                  dict(archs="8.6,9.0"), dict(archs="upstream"), dict(package="mamba_ssm")):
        assert find_cached_build(key(**other), cache) is None, other


def test_a_lookup_without_the_sdist_or_arch_takes_the_newest_match(tmp_path, built):
    cache = tmp_path / "cache"
    store_build(built, key(sdist_sha256="01" * 32), cache)
    newer = store_build(built, key(sdist_sha256="02" * 32, archs="8.6,9.0"), cache)
    assert find_cached_build(key_for_target("causal_conv1d", H200_ENV), cache) == newer
    assert find_cached_build(key_for_target("causal_conv1d", TargetEnv(python="3.12", torch="2.11.0+cu128", torch_cuda="12.8",
                                                                       cxx11_abi=True)), cache) is None
    assert [b["key"]["sdist_sha256"] for b in cached_builds(cache, "causal_conv1d")] == ["02" * 32, "01" * 32]


def test_a_wheel_changed_in_the_cache_is_not_served(tmp_path, built):
    cache = tmp_path / "cache"
    stored = store_build(built, key(), cache)
    data = bytearray(stored.read_bytes())
    data[-10] ^= 0xFF
    stored.write_bytes(bytes(data))
    assert find_cached_build(key(), cache) is None  # bytes hashed, digest differs: not reported as the build


def test_storing_leaves_no_partial_entry_and_a_hostile_record_is_ignored(tmp_path, built):
    cache = tmp_path / "cache"
    store_build(built, key(), cache)
    store_build(built, key(), cache)  # replacing an entry is whole too
    root = cache / "builds"
    assert [p.name for p in root.iterdir() if p.name.startswith(".")] == []
    evil = root / "evil"
    evil.mkdir()
    (evil / "build.json").write_text(json.dumps({"wheel": "../../outside.whl", "key": {"package": "causal_conv1d"}}))
    assert all("outside" not in b["wheel"] for b in cached_builds(cache))


def test_build_returns_at_once_from_the_cache(tmp_path, monkeypatch, built):
    """`build` with the same key: no compile, the stored wheel (copied to --dest). The GPU and the CUDA torch
    cannot exist here, so the probe's facts and the GPU architecture are given (the only stand-ins)."""
    from mambaenv.commands import gpu

    cache = tmp_path / "cache"
    monkeypatch.setenv("MAMBAENV_CACHE_DIR", str(cache))
    sdist = SDISTS / "causal_conv1d-1.7.0.tar.gz"
    sha = hashlib.sha256(sdist.read_bytes()).hexdigest()
    stored = store_build(built, key_for_target("causal_conv1d", H200_ENV, sha, ["9.0"]), cache)

    class Probe:
        def target(self):
            return H200_ENV

    monkeypatch.setattr(gpu, "probe_python", lambda exe: Probe())
    monkeypatch.setattr(gpu, "choose_python", lambda python, env: "/nonexistent/python")
    monkeypatch.setattr(gpu, "native_archs", lambda: ["9.0"])
    monkeypatch.setattr(gpu, "build_many", lambda *a, **k: pytest.fail("a cached build was compiled again"))
    [res] = gpu.build_cmd(gpu.BuildRequest("causal_conv1d", (str(sdist),), "native", dest=str(tmp_path / "dest"), quiet=True)).builds
    assert res["cached"] is True and res["cached_at"] == str(stored)
    assert Path(res["wheel"]).read_bytes() == built.read_bytes() and Path(res["wheel"]).parent == tmp_path / "dest"


def test_docker_builds_wheel_source_takes_the_cached_local_build(tmp_path, monkeypatch, built):
    from mambaenv.commands.containers import _wheels_for_image

    cache = tmp_path / "cache"
    monkeypatch.setenv("MAMBAENV_CACHE_DIR", str(cache))
    stored = store_build(built, key_for_target("causal_conv1d", H200_ENV, "ab" * 32, ["9.0"]), cache)
    mamba = write_wheel(tmp_path / "out", "mamba_ssm-2.3.2.post1+cu13torch2.11cxx11abiTRUE-cp312-cp312-linux_x86_64.whl",
                        tag="cp312-cp312-linux_x86_64")
    stored_m = store_build(mamba, key_for_target("mamba_ssm", H200_ENV, "cd" * 32, ["9.0"]), cache)
    got = _wheels_for_image(H200_ENV, tmp_path / "dl", quiet=True)
    assert [(p.name, p.read_bytes()) for p in got] == [(s.name, s.read_bytes()) for s in (stored_m, stored)]


def test_smoke_result_is_recorded_for_doctor(tmp_path):
    from mambaenv.smoke import record_smoke_result

    result = {"python": "/envs/m/bin/python", "result": "passed", "total_seconds": 21.8,
              "steps": [{"name": "import torch", "status": "pass", "seconds": 3.67, "version": "2.11.0"},
                        {"name": "Mamba2 forward (Triton)", "status": "pass", "seconds": 5.5, "traceback": None}]}
    path = record_smoke_result(result, tmp_path)
    rec = json.loads(path.read_text())
    assert path.parent == tmp_path / "smoke"
    assert set(rec) == {"python", "ok", "result", "when", "steps"} and rec["ok"] is True and rec["python"] == "/envs/m/bin/python"
    assert [s["name"] for s in rec["steps"]] == ["import torch", "Mamba2 forward (Triton)"]
    record_smoke_result(dict(result, result="failed"), tmp_path)
    assert json.loads(path.read_text())["ok"] is False
    assert [p.name for p in (tmp_path / "smoke").iterdir()] == [path.name]  # one record per env, replaced whole


def local_builds(target, cache) -> dict:
    """{package: the stored build the planner takes for ``target``, or None} (local builds only)."""
    from mambaenv.facts import Target
    from mambaenv.plan import PlanRequest, plan

    answer = plan(PlanRequest(Target(target), offline=True, origins=("local-build",), cache=cache))
    return {p.package: p.chosen.local_path if p.chosen else None for p in answer.packages}


def test_install_and_doctor_lookup_names_the_local_build_per_package(tmp_path, built):
    cache = tmp_path / "cache"
    stored = store_build(built, key_for_target("causal_conv1d", H200_ENV, "ab" * 32, ["9.0"]), cache)
    assert local_builds(H200_ENV, cache) == {"mamba_ssm": None, "causal_conv1d": stored.resolve()}
    assert local_builds(TargetEnv(python="3.11", torch="2.11.0+cu130", torch_cuda="13.0", cxx11_abi=True), cache) == \
        {"mamba_ssm": None, "causal_conv1d": None}
