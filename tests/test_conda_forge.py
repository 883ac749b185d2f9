"""conda-forge's mamba-ssm and causal-conv1d as data: the feedstocks' builds, and which one fits a conda env."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mambaenv.catalog.conda_forge import builds, fits, fitting, install_command, load_conda_forge, platform_of

ROOT = Path(__file__).resolve().parent.parent
DATA = load_conda_forge()


def test_the_feedstocks_cuda_variants_and_platforms():
    causal = builds(DATA, "causal_conv1d")
    assert {b.cuda for b in causal} == {"12.6", "12.9", "13.0"}
    assert {b.platform for b in causal} == {"linux-64", "linux-aarch64", "win-64"}
    assert {b.cuda for b in causal if b.platform == "win-64"} == {"13.0"}  # Windows CUDA builds since the 2026-08 recipe
    mamba = builds(DATA, "mamba_ssm")
    assert {b.platform for b in mamba} == {"linux-64", "linux-aarch64"}  # the recipe skips Windows
    assert {b.version for b in mamba} == {"2.2.5", "2.2.6", "2.3.0", "2.3.1"}  # ".postN" stripped: 2.2.6.post3 is 2.2.6


def test_causal_conv1d_1_7_0_for_conda_forges_pytorch_2_13_on_cuda_13():
    best = fitting(DATA, "causal_conv1d", "2.13.0", "13.0", "linux-64", "3.12")[0]
    assert (best.version, best.build, best.cuda, best.pytorch, best.glibc) == ("1.7.0", 0, "13.0", "2.13", "2.28")
    assert best.spec == "causal-conv1d=1.7.0=cuda130*_0" and best.to_dict()["origin"] == "conda-forge"
    win = fitting(DATA, "causal_conv1d", "2.13.0", "13.0", "win-64", "3.12")[0]
    assert win.platform == "win-64" and win.glibc is None


def test_a_build_for_another_pytorch_minor_python_or_newer_cuda_does_not_fit():
    b = fitting(DATA, "causal_conv1d", "2.13.0", "13.0", "linux-64", "3.12")[0]
    assert not fits(b, "2.12.1", "13.0", "linux-64", "3.12")  # compiled against 2.13's C++ symbols
    assert not fits(b, "2.13.0", "12.9", "linux-64", "3.12")  # cuda-version 13 cannot share an env with CUDA 12
    assert not fits(b, "2.13.0", "13.0", "linux-64", "3.11")
    older = fitting(DATA, "causal_conv1d", "2.13.0", "13.2", "linux-64", "3.12")
    assert older and all(x.cuda == "13.0" for x in older)  # an older minor of the same major runs on 13.2


def test_mambas_unpinned_builds_fit_only_the_pytorch_of_their_day():
    newest = [b for b in builds(DATA, "mamba_ssm") if b.version == "2.3.1"]
    assert all(b.pytorch is None and b.pytorch_pinning_then == "2.10" for b in newest)
    assert fitting(DATA, "mamba_ssm", "2.13.0", "13.0", "linux-64", "3.12") == []  # built against 2.10: not offered
    ok = fitting(DATA, "mamba_ssm", "2.10.0", "13.0", "linux-64", "3.12")[0]
    assert ok.spec == "mamba-ssm=2.3.1=*_1" and ok.to_dict()["pytorch_inferred"] is True


def test_the_install_command_names_the_channel_and_each_build():
    chosen = [fitting(DATA, p, "2.10.0", "12.9", "linux-64", "3.11")[0] for p in ("mamba_ssm", "causal_conv1d")]
    assert install_command(chosen, "-n mamba_env") == ('conda install -n mamba_env -c conda-forge "mamba-ssm=2.3.1=*_1" '
                                                       '"causal-conv1d=1.6.2.post1=cuda129*_4"')


def test_platforms_conda_forge_builds_for():
    assert platform_of("Linux", "x86_64") == "linux-64" and platform_of("Windows", "AMD64") == "win-64"
    assert platform_of("Darwin", "arm64") is None


MIRRORS = {k: Path(f"/work/.mirror/conda-forge+{k}-feedstock/repo") for k in ("mamba-ssm", "causal-conv1d")}


@pytest.mark.skipif(not all(p.is_dir() for p in MIRRORS.values()) or shutil.which("git") is None,
                    reason="needs git copies of the two conda-forge feedstocks")
def test_regen_reproduces_the_shipped_conda_forge_data(tmp_path):
    pytest.importorskip("yaml")
    out = tmp_path / "conda-forge.json"
    subprocess.run([sys.executable, str(ROOT / "tools/regen_conda_forge.py"), "--mamba", str(MIRRORS["mamba-ssm"]),
                    "--causal", str(MIRRORS["causal-conv1d"]), "--out", str(out)], check=True, capture_output=True)
    assert out.read_bytes() == (ROOT / "mambaenv/catalog/data/conda-forge.json").read_bytes()
    assert json.loads(out.read_text())["packages"]["mamba_ssm"]["read_at"].startswith("2108f3b")
