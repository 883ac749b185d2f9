"""Resolution against the shipped catalog: the user story and every trap in upstream-facts.md."""
import json

import pytest

from mambaenv.catalog import load_catalog, wheels_of
from mambaenv.errors import BadInput
from mambaenv.facts import TargetEnv
from mambaenv.resolve import resolve_all, resolve_package
from mambaenv.wheelname import parse_wheel_filename
from tests.conftest import run_cli

CAT = load_catalog(offline=True)


def env(python="3.10", torch="2.1.2", cuda="12.1", abi=False, **kw):
    return TargetEnv(python=python, torch=torch, torch_cuda=cuda, cxx11_abi=abi, **kw)


def files(package, tag):
    return {w.filename for w in wheels_of(CAT.find(package, tag))}


def test_user_story_env_resolves_to_the_wheel_they_downloaded_by_hand():
    story = env(python="3.8", torch="2.0.0", cuda="11.8", abi=False)
    choice = resolve_package(CAT, "mamba_ssm", story, "2.2.2")
    assert choice.wheel.filename == "mamba_ssm-2.2.2+cu118torch2.0cxx11abiFALSE-cp38-cp38-linux_x86_64.whl"
    assert choice.wheel.url == ("https://github.com/state-spaces/mamba/releases/download/v2.2.2/"
                                "mamba_ssm-2.2.2%2Bcu118torch2.0cxx11abiFALSE-cp38-cp38-linux_x86_64.whl")


def test_resolve_cli_json_shape_for_the_user_story():
    out = run_cli("resolve", "--offline", "--json", "--package", "all", "--python", "3.8", "--torch", "2.0.0",
                  "--torch-cuda", "11.8", "--cxx11abi", "false", "--machine", "x86_64")
    assert out.returncode == 0, out.stderr
    pkgs = json.loads(out.stdout)["packages"]
    assert [p["package"] for p in pkgs] == ["mamba_ssm", "causal_conv1d"]
    for p in pkgs:
        assert set(p) >= {"package", "version", "tag", "file", "url", "size", "sha256", "reason", "alternatives"}
        assert p["file"].endswith("+cu118torch2.0cxx11abiFALSE-cp38-cp38-linux_x86_64.whl")


def test_plain_resolve_prints_one_url_per_line_for_a_browser():
    out = run_cli("resolve", "--offline", "--python", "3.8", "--torch", "2.0.0", "--torch-cuda", "11.8", "--cxx11abi", "false")
    lines = out.stdout.strip().splitlines()
    assert out.returncode == 0 and len(lines) == 2
    assert all(line.startswith("https://github.com/") and "%2B" in line for line in lines)


def test_cuda_12_minor_maps_to_the_one_cu12x_build_of_era_a():
    choice = resolve_package(CAT, "mamba_ssm", env(torch="2.1.2", cuda="12.1"), "2.2.2")
    assert "+cu122torch2.1" in choice.wheel.filename


def test_cuda_117_torch_uses_the_cu118_wheel():
    choice = resolve_package(CAT, "mamba_ssm", env(python="3.9", torch="2.0.1", cuda="11.7"), "2.2.2")
    assert "+cu118torch2.0" in choice.wheel.filename


def test_era_b_and_c_name_cuda_by_major_only():
    assert any("+cu12torch2.4" in f for f in files("mamba_ssm", "v2.2.4"))
    assert not any("+cu123" in f for f in files("mamba_ssm", "v2.2.4"))
    assert any("+cu13torch2.9" in f for f in files("mamba_ssm", "v2.3.2.post1"))


def test_era_a_prime_files_are_cu118_cu124_although_setup_py_asks_cu11_cu12():
    rel = CAT.find("causal_conv1d", "v1.5.0.post4")
    assert rel.era == "A'" and rel.record["setup_py"]["cuda_tag_style"] == "major"
    assert any("+cu124torch2.4" in f for f in files("causal_conv1d", "v1.5.0.post4"))
    assert not any("+cu12torch" in f for f in files("causal_conv1d", "v1.5.0.post4"))


def test_cu13_and_aarch64_appear_where_upstream_started_them():
    # the workflow matrix starts cu13 at v2.3.1 / v1.6.1; earlier tags carry cu13 only from NGC containers
    assert not any("+cu13torch2." in f for f in files("mamba_ssm", "v2.3.0"))
    assert any("+cu13torch2." in f for f in files("mamba_ssm", "v2.3.1"))
    assert not any("+cu13torch2." in f for f in files("causal_conv1d", "v1.6.0"))
    assert any("+cu13" in f for f in files("causal_conv1d", "v1.6.1"))
    # v2.2.6.post3's aarch64 files are NGC container builds (one hand-uploaded), not workflow cells
    arm = [parse_wheel_filename(f) for f in files("mamba_ssm", "v2.2.6.post3") if f.endswith("aarch64.whl")]
    assert arm and all(n.local.is_ngc for n in arm)
    assert any(f.endswith("aarch64.whl") for f in files("mamba_ssm", "v2.3.0"))
    assert any(f.endswith("aarch64.whl") for f in files("causal_conv1d", "v1.6.0"))


def test_tags_whose_files_carry_another_version():
    assert all(f.startswith("mamba_ssm-2.3.1+") for f in files("mamba_ssm", "v2.3.2"))
    for tag in ("v1.6.1.post1", "v1.6.1.post4"):
        assert all(f.startswith("causal_conv1d-1.6.1+") for f in files("causal_conv1d", tag))
    assert all(f.startswith("causal_conv1d-1.5.3.post1+") for f in files("causal_conv1d", "v1.5.3.post2"))
    choice = resolve_package(CAT, "mamba_ssm", env(python="3.12", torch="2.8.0", cuda="12.8", abi=True), "v2.3.2")
    assert choice.wheel.filename.startswith("mamba_ssm-2.3.1+cu12torch2.8") and "/download/v2.3.2/" in choice.wheel.url


@pytest.mark.parametrize("package,tag", [("mamba_ssm", "v2.2.6"), ("mamba_ssm", "v2.2.6.post1"), ("causal_conv1d", "v1.5.3")])
def test_releases_that_built_nothing_are_never_offered(package, tag):
    assert files(package, tag) == set()
    choice = resolve_package(CAT, package, env(python="3.11", torch="2.4.0", cuda="12.4"), tag)
    assert choice.wheel is None and "no wheels" in choice.reason
    assert any(a.kind == "release" for a in choice.alternatives)


def test_newest_release_that_fits_skips_those_without_wheels():
    # torch 2.3: v2.2.6 and v2.2.6.post1 list it in their matrix but built nothing (retired runner); v2.2.6.post2+
    # never built torch < 2.4; v2.2.5 starts at torch 2.4. So the answer is exactly v2.2.4.
    assert "2.3.1" in CAT.find("mamba_ssm", "v2.2.6").record["matrix"]["torch"]
    choice = resolve_package(CAT, "mamba_ssm", env(python="3.11", torch="2.3.0", cuda="12.1", abi=False))
    assert choice.wheel.tag == "v2.2.4"
    assert choice.wheel.filename == "mamba_ssm-2.2.4+cu12torch2.3cxx11abiFALSE-cp311-cp311-linux_x86_64.whl"


def test_torch_missing_from_the_workflow_table_never_built():
    # v2.2.6.post2's matrix lists torch 2.1-2.3 but its torch/CUDA table starts at 2.4: those cells failed.
    assert not any("torch2.1" in f for f in files("mamba_ssm", "v2.2.6.post2"))
    assert any("torch2.4" in f for f in files("mamba_ssm", "v2.2.6.post2"))


def test_cells_pairing_a_toolkit_with_another_cuda_major_torch_never_built():
    assert "mamba_ssm-1.1.3+cu122torch1.12cxx11abiFALSE-cp37-cp37m-linux_x86_64.whl" not in files("mamba_ssm", "v1.1.3")
    assert "mamba_ssm-1.1.3+cu118torch1.12cxx11abiFALSE-cp37-cp37m-linux_x86_64.whl" in files("mamba_ssm", "v1.1.3")
    rel = CAT.find("causal_conv1d", "v1.6.0")
    wheels_of(rel)
    assert any("cannot compile" in why for _, why in rel.skipped_cells)
    assert not any("+cu11torch2.8" in f for f in files("causal_conv1d", "v1.6.0"))


def test_no_false_abi_wheels_for_torch_27_plus_from_mamba_231():
    choice = resolve_package(CAT, "mamba_ssm", env(python="3.12", torch="2.8.0", cuda="12.8", abi=False), "v2.3.1")
    assert choice.wheel is None and "cxx11abiFALSE" in choice.reason


def test_python_37_files_carry_the_m_abi_flag():
    choice = resolve_package(CAT, "mamba_ssm", env(python="3.7", torch="1.13.1", cuda="11.7"), "1.2.0")
    assert choice.wheel.filename.endswith("-cp37-cp37m-linux_x86_64.whl")


def test_torch_211_has_no_wheel_and_the_reason_names_the_newest_torch():
    choice = resolve_package(CAT, "mamba_ssm", env(python="3.12", torch="2.11.0+cu130", cuda="13.0", abi=True))
    assert choice.wheel is None
    assert "no release builds torch 2.11" in choice.reason and "2.10" in choice.reason
    kinds = [a.kind for a in choice.alternatives]
    assert kinds == ["torch", "build"]
    assert "mambaenv build" in choice.alternatives[-1].command


def test_cuda_10_and_old_setup_py_mapping_to_12_gets_an_honest_answer():
    choice = resolve_package(CAT, "mamba_ssm", env(python="3.8", torch="1.12.1", cuda="10.2"))
    assert choice.wheel is None and "CUDA 10" in choice.reason


@pytest.mark.parametrize("target,words", [
    (TargetEnv(python="3.10", system="Windows", torch="2.1.2", torch_cuda="12.1", cxx11_abi=False), "WSL2"),
    (TargetEnv(python="3.10", system="Darwin", machine="arm64", torch="2.1.2", cxx11_abi=False), "NVIDIA"),
    (TargetEnv(python="3.10", torch="2.1.2", torch_hip="5.6", cxx11_abi=False), "ROCm"),
    (TargetEnv(python="3.10", torch="2.1.2+cpu", cxx11_abi=False), "CPU-only"),
])
def test_platforms_without_wheels_get_a_clear_answer_not_a_url(target, words):
    for choice in resolve_all(CAT, target):
        assert choice.wheel is None and words in choice.reason


def test_ngc_container_prefers_the_container_build():
    ngc = env(python="3.12", torch="2.9.0a0+50eac811a6", cuda="13.0", abi=True, ngc_version="25.09", cuda_version_env="13.0.1")
    choice = resolve_package(CAT, "causal_conv1d", ngc)
    assert "+cu13torch25.09cxx11abiTRUE-cp312" in choice.wheel.filename


def test_a_causal_conv1d_is_paired_for_the_same_env():
    story = env(python="3.8", torch="2.0.0", cuda="11.8", abi=False)
    mamba, causal = resolve_all(CAT, story)
    assert mamba.wheel and causal.wheel
    assert causal.wheel.local == mamba.wheel.local and causal.wheel.python == "3.8"


@pytest.mark.parametrize("args,words", [
    (["--package", "mamba_ssm", "--package-version", "9.9.9"], "unknown mamba_ssm version"),
    (["--torch", "two.one"], "malformed torch version"),
    (["--machine", "riscv64"], "unknown machine"),
    (["--package", "mamba"], "unknown package"),
    (["--cxx11abi", "maybe"], "malformed --cxx11abi"),
])
def test_bad_input_is_one_clear_line_and_a_nonzero_exit(args, words):
    base = {"--python": "3.10", "--torch": "2.1.2", "--torch-cuda": "12.1", "--cxx11abi": "false"}
    argv = []
    for k, v in base.items():
        if k not in args:
            argv += [k, v]
    out = run_cli("resolve", "--offline", *argv, *args)
    assert out.returncode == 2
    err = out.stderr.strip().splitlines()
    assert len(err) == 1 and words in err[0] and "Traceback" not in out.stderr


def test_explicit_facts_without_abi_refuse_to_guess():
    with pytest.raises(BadInput, match="cxx11abi"):
        from mambaenv.target import explicit_target
        explicit_target("3.10", "2.1.2+cu121", None, None, "x86_64", None)


def test_a_python_version_without_the_other_facts_says_what_is_missing():
    out = run_cli("resolve", "--offline", "--python", "3.10")
    assert out.returncode == 2 and "--torch" in out.stderr and "interpreter path" in out.stderr
