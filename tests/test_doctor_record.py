"""doctor in an env where both packages are installed loads their extensions (importing torch) only when something
they rest on changed since the last load that worked; otherwise it answers from the record and says when it checked.

The env is real (a venv, the real dist-info of both packages, a compiled extension each that imports torch); torch
is a stand-in whose import leaves a mark, so each test can tell whether doctor imported torch in the env.
"""
import json
import os
import shutil

import pytest

from mambaenv.detect.ext_record import RECORD_DIR, remember_smoke
from tests.conftest import run_cli
from tests.fixture_builders import installed_mamba_env, standin_torch

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs a C compiler for the stand-in extensions")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    python, site = installed_mamba_env(tmp_path_factory.mktemp("record-env"), torch="standin")
    return python, site, site / "torch" / "imported"


def doctor(python, *extra):
    out = run_cli("doctor", "--python", str(python), "--json", "--offline", *extra)
    checks = {c["name"]: c for c in json.loads(out.stdout)["checks"]}
    return checks["installed:mamba_ssm"], checks["installed:causal_conv1d"]


def imported_torch(marker, *doctor_args):
    """Run doctor; True when it imported torch in the env (the stand-in's mark appeared)."""
    marker.unlink(missing_ok=True)
    mamba, conv = doctor(*doctor_args)
    assert mamba["status"] == "pass" and conv["status"] == "pass", (mamba, conv)
    return marker.exists(), mamba["detail"]


def test_a_second_doctor_answers_from_the_record_without_importing_torch(env, isolated_cache):
    python, _, marker = env
    imported, detail = imported_torch(marker, python)
    assert imported and "checked at" not in detail  # the first run loads the extensions, torch and all
    imported, detail = imported_torch(marker, python)
    assert not imported and "(checked at 20" in detail and "unchanged since" in detail
    assert [p.name for p in (isolated_cache / RECORD_DIR).iterdir()] != [] and not list((isolated_cache / RECORD_DIR).glob(".record-*"))
    imported, detail = imported_torch(marker, python, "--deep")
    assert imported and "checked at" not in detail  # --deep loads them again


def _touch_later(path, size_too=False):
    st = path.stat()
    if size_too:
        with open(path, "ab") as f:
            f.write(b"\0")  # bytes after the last section: the loader ignores them
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + (0 if size_too else 10**9)))
    assert (path.stat().st_size != st.st_size) == size_too and (path.stat().st_mtime_ns != st.st_mtime_ns) != size_too


@pytest.mark.parametrize("change", ["mtime", "size"])
def test_a_changed_extension_file_is_loaded_again(env, change):
    python, site, marker = env
    assert imported_torch(marker, python)[0]
    assert not imported_torch(marker, python)[0]  # recorded
    ext = next(site.glob("causal_conv1d_cuda*.so"))
    _touch_later(ext, size_too=change == "size")
    imported, detail = imported_torch(marker, python)
    assert imported and "checked at" not in detail
    assert not imported_torch(marker, python)[0]  # and recorded again under the new key


def test_another_torch_version_loads_them_again(env):
    python, site, marker = env
    assert imported_torch(marker, python)[0]
    assert not imported_torch(marker, python)[0]
    try:
        standin_torch(site, version="2.14.0+cpu")
        mamba, _ = doctor(python)
        assert marker.exists() and "matches torch 2.14.0+cpu" in mamba["detail"] and "checked at" not in mamba["detail"]
    finally:
        standin_torch(site)


def _damaged(good: dict, how: str) -> str:
    """The good record, damaged one way; it keeps its key where it can, so only the damage can cause a re-probe."""
    if how == "not json":
        return json.dumps(good)[:-7]
    if how == "a list":
        return "[]"
    bad = json.loads(json.dumps(good))
    if how == "no key":
        del bad["key"]
    elif how == "time not text":
        bad["checked_at"] = 5
    elif how == "package without version":
        del bad["result"]["packages"]["mamba_ssm"]["version"]
    return json.dumps(bad)


@pytest.mark.parametrize("how", ["not json", "a list", "no key", "time not text", "package without version"])
def test_a_damaged_record_is_dropped_and_written_again(env, isolated_cache, how):
    python, _, marker = env
    assert imported_torch(marker, python)[0]
    [record] = (isolated_cache / RECORD_DIR).glob("*.json")
    good = json.loads(record.read_text())
    assert not imported_torch(marker, python)[0]  # the good record answers
    record.write_text(_damaged(good, how))
    imported, detail = imported_torch(marker, python)
    assert imported and "checked at" not in detail  # the damage was seen: the extensions were loaded again
    assert json.loads(record.read_text())["key"] == good["key"]
    assert not imported_torch(marker, python)[0]


def test_a_passed_smoke_test_is_a_record_and_a_failed_one_removes_it(env, isolated_cache):
    python, _, marker = env
    marker.unlink(missing_ok=True)
    remember_smoke(str(python), isolated_cache, passed=True)
    assert not marker.exists()  # filing it read files only
    imported, detail = imported_torch(marker, python)
    assert not imported and "checked at" in detail
    remember_smoke(str(python), isolated_cache, passed=False)
    assert imported_torch(marker, python)[0]
