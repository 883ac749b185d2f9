"""Astral's per-CUDA indexes as data: the README tables and plan-matrix facts expand into the real wheel names."""
import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mambaenv import compat
from mambaenv.catalog import load_catalog
from mambaenv.catalog.astral import candidates, channel, cxx11_abi, expand, load_astral
from mambaenv.facts import TargetEnv
from mambaenv.wheelname import LocalTag, local_of_version, parse_local

ROOT = Path(__file__).resolve().parent.parent
DATA = load_astral()
CAT = load_catalog(offline=True)


def wheels(package: str, with_archs: bool = True):
    tag = {"mamba_ssm": "v2.3.2.post1", "causal_conv1d": "v1.6.2.post1"}[package]
    return expand(DATA, package, CAT.find(package, tag).record["arch_rules"] if with_archs else None)


@pytest.mark.parametrize("cuda,torch,local", [("12.8", "2.11", "cu.12.8.torch.2.11"), ("13.0", "2.11", "cu.13.0.torch.2.11"),
                                              ("12.6", "2.10", "cu.12.6.torch.2.10"), ("12.4", "2.6", "cu.12.4.torch.2.6")])
def test_the_local_version_round_trips(cuda, torch, local):
    tag = LocalTag(cuda, torch, None, "astral")
    assert str(tag) == local and parse_local(local) == tag
    assert local_of_version(f"2.3.2.post1+{local}") == tag and tag.cuda_major == int(cuda.split(".")[0])


@pytest.mark.parametrize("text", ["cu12torch2.6cxx11abiTRUE", "cu.12.torch.2.11", "cu.12.8.torch.2", "2.3.2.post1"])
def test_other_local_versions_are_not_astrals(text):
    tag = parse_local(text)
    assert tag is None or tag.scheme != "astral"


def test_the_readme_examples_are_predicted_files():
    mamba = {w.requirement for w in wheels("mamba_ssm")}
    causal = {w.requirement for w in wheels("causal_conv1d")}
    assert "mamba-ssm==2.3.2.post1+cu.12.8.torch.2.11" in mamba  # build-mamba README.md
    assert "causal-conv1d==1.6.2.post1+cu.12.8.torch.2.11" in causal  # build-causal-conv1d README.md


def test_torch_2_11_cuda_13_python_3_12_gets_astrals_files_from_the_cu130_index():
    for package, project, version in (("mamba_ssm", "mamba-ssm", "2.3.2.post1"), ("causal_conv1d", "causal-conv1d", "1.6.2.post1")):
        found = candidates(wheels(package), "3.12", "x86_64", "2.11.0+cu130", "13.0")
        best = found[0]
        assert best.requirement == f"{project}=={version}+cu.13.0.torch.2.11"
        assert best.filename == f"{package}-{version}+cu.13.0.torch.2.11-cp312-cp312-manylinux_2_28_x86_64.whl"
        assert best.index_url == "https://wheels.astral.sh/simple/cu130/" and best.cxx11_abi and best.glibc == "2.28"
        assert 121 in best.archs and 70 not in best.archs  # setup.py's toolkit-13.0 list: sm_121 yes, Volta no
        assert best.to_dict()["origin"] == "astral" and best.source == "predicted"


def test_the_table_rows_expand_per_machine_cuda_and_python():
    mamba = wheels("mamba_ssm", with_archs=False)
    t211 = [w for w in mamba if w.torch == "2.11"]
    assert len(t211) == 2 * 4 * 5  # x86_64 and aarch64, CUDA 12.6/12.8/12.9/13.0, Python 3.10-3.14
    assert not [w for w in mamba if w.machine == "aarch64" and w.torch in ("2.4", "2.5")]  # aarch64 from torch 2.6
    assert {w.cuda for w in mamba if w.torch == "2.4"} == {"12.1", "12.4"}
    assert max(w.torch for w in mamba if w.torch.startswith("2.1")) == "2.11"  # mamba stops at torch 2.11
    causal = {(w.torch, w.cuda) for w in wheels("causal_conv1d", with_archs=False)}
    assert ("2.12", "13.2") in causal and ("2.12", "12.8") not in causal
    assert all(w.archs is None for w in mamba)  # no upstream rules given: unknown, not guessed


@pytest.mark.parametrize("torch,cuda,abi", [("2.4.1", "12.4", False), ("2.5.1", "12.1", False), ("2.6.0", "12.4", False),
                                            ("2.6.0", "12.6", True), ("2.7.1", "12.6", True), ("2.12.1", "13.2", True)])
def test_the_cxx11_abi_is_that_of_pytorchs_own_build(torch, cuda, abi):
    assert cxx11_abi(DATA["cxx11_abi"], torch, cuda) is abi


def test_a_torch_runs_its_own_cuda_first_then_older_minors_never_a_newer_one():
    mamba = wheels("mamba_ssm", with_archs=False)
    assert [w.cuda for w in candidates(mamba, "3.11", "x86_64", "2.11.0+cu129", "12.9")] == ["12.9", "12.8", "12.6"]
    assert [w.cuda for w in candidates(mamba, "3.11", "aarch64", "2.8.0", "12.8")] == []  # aarch64 has 12.9 only
    assert candidates(mamba, "3.12", "x86_64", "2.12.1", "13.0") == []  # no mamba build for torch 2.12
    assert [w.cuda for w in candidates(wheels("causal_conv1d"), "3.12", "x86_64", "2.12.1", "13.2")] == ["13.2", "13.0"]
    assert channel("12.8") == "cu128"


def test_compat_judges_an_astral_wheel_like_an_upstream_one():
    env = TargetEnv(python="3.12", torch="2.11.0+cu130", torch_cuda="13.0", cxx11_abi=True, glibc="2.35")
    best = candidates(wheels("mamba_ssm"), "3.12", "x86_64", env.torch, env.torch_cuda)[0]
    assert compat.evaluate(best.facts(), env).fits
    old = compat.evaluate(best.facts(), TargetEnv(**{**env.to_dict(), "glibc": "2.27"}))
    assert not old.fits and "glibc" in old.failed
    t26 = next(w for w in wheels("mamba_ssm") if w.torch == "2.6" and w.cuda == "12.6" and w.python == "3.11" and w.machine == "x86_64")
    assert t26.glibc == "2.24" and compat.evaluate(t26.facts(), TargetEnv(python="3.11", torch="2.6.0", torch_cuda="12.6",
                                                                          cxx11_abi=True, glibc="2.27")).fits


def test_the_data_names_where_it_was_read():
    for package, repo in (("mamba_ssm", "astral-sh-build/build-mamba"), ("causal_conv1d", "astral-sh-build/build-causal-conv1d")):
        rec = DATA["packages"][package]
        assert rec["repo"] == repo and all(len(c) == 40 for c in rec["sources"].values())
    row = next(r for r in DATA["packages"]["mamba_ssm"]["rows"] if r["torch"] == "2.11.0")
    assert "not in plan-matrix.py" in row["glibc_from"]  # said, not hidden


def _regen():
    spec = importlib.util.spec_from_file_location("regen_astral", ROOT / "tools/regen_astral.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_regen_reads_a_real_readme_row_and_refuses_an_unknown_abi_rule(tmp_path):
    regen = _regen()
    row = "| 2.12.1  | 3.10–3.14 | 12.6, 13.0, 13.2       | 12.6, 13.0, 13.2       |"  # build-causal-conv1d README.md
    m = regen._ROW.search(row)
    assert regen.python_range(m["py"]) == ["3.10", "3.11", "3.12", "3.13", "3.14"] and regen.cuda_list(m["arm"]) == ["12.6", "13.0", "13.2"]
    assert regen.cuda_list("—") == []
    (tmp_path / "README.md").write_text("x")
    (tmp_path / "plan-matrix.py").write_text('TORCH_GLIBC_VERSION = {"2.4": "2_17"}\ncxx11_abi = torch_version_parsed >= Version("2.8.0")\n')
    (tmp_path / "COMMITS").write_text(f"README.md {'0' * 40}\nplan-matrix.py {'1' * 40}\n")
    with pytest.raises(SystemExit, match="cxx11 ABI rule"):
        regen.package_record("mamba_ssm", tmp_path)


COPIES = {k: Path(f"/work/.mirror/astral-sh-build+{k}/repo") for k in ("build-mamba", "build-causal-conv1d")}


@pytest.mark.skipif(not all(p.is_dir() for p in COPIES.values()) or shutil.which("git") is None,
                    reason="needs git copies of astral-sh-build/build-mamba and build-causal-conv1d")
def test_regen_reproduces_the_shipped_astral_data(tmp_path):
    out = tmp_path / "astral.json"
    subprocess.run([sys.executable, str(ROOT / "tools/regen_astral.py"), "--mamba", str(COPIES["build-mamba"]),
                    "--causal", str(COPIES["build-causal-conv1d"]), "--out", str(out)], check=True, capture_output=True)
    assert json.loads(out.read_text()) == DATA
