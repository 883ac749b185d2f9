"""Astral's per-CUDA indexes as a source of the planner: predicted offline, read from the index page online (a real PEP 503
index on 127.0.0.1 laid out like theirs: simple/cuXYZ/<project>/, their file names, sha256 fragments), installed with
the sha256 checked and torch kept; always said to be a third-party build, and left out on request."""
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.fixture_builders import ensure_torch_venv
from tests.test_wheelhouse import StaticServer
from tests.wheels import write_wheel

MUST = ["--python", "3.12", "--torch", "2.11.0", "--torch-cuda", "13.0", "--cxx11abi", "true", "--offline"]
SEAM = {"MAMBAENV_ASSUME_TORCH_CUDA": "12.8"}  # the fixture's CPU torch 2.13 stands for a CUDA 12.8 build
THEIRS = {"MAMBAENV_ASTRAL_INDEX": ""}  # offline answers name Astral's own index (nothing is asked of it)
TAG = f"cp{sys.version_info[0]}{sys.version_info[1]}"


def test_torch_2_11_gets_astrals_wheels_offline_marked_third_party_ahead_of_a_build():
    out = run_cli("resolve", *MUST, "--json", env=THEIRS)
    assert out.returncode == 0, out.stderr
    got = {p["package"]: p for p in json.loads(out.stdout)["packages"]}
    mamba, causal = got["mamba_ssm"], got["causal_conv1d"]
    assert mamba["origin"] == causal["origin"] == "astral" and mamba["third_party"] and causal["third_party"]
    assert mamba["version"] == "2.3.2.post1+cu.13.0.torch.2.11" and causal["version"].endswith("+cu.13.0.torch.2.11")
    assert mamba["file"] == "mamba_ssm-2.3.2.post1+cu.13.0.torch.2.11-cp312-cp312-manylinux_2_28_x86_64.whl"
    assert mamba["index"] == "https://wheels.astral.sh/simple/cu130/" and mamba["source"] == "predicted"
    assert mamba["requirement"] == "mamba-ssm==2.3.2.post1+cu.13.0.torch.2.11"
    assert "third-party build" in mamba["reason"] and "predicted" in mamba["reason"]
    text = run_cli("resolve", *MUST, env=THEIRS)
    assert "third-party build" in text.stderr and "--no-third-party" in text.stderr
    assert text.stdout.splitlines() == ["https://wheels.astral.sh/simple/cu130/mamba-ssm/", "https://wheels.astral.sh/simple/cu130/causal-conv1d/"]


def test_no_third_party_flag_or_config_says_build():
    off = json.loads(run_cli("resolve", *MUST, "--no-third-party", "--json").stdout)
    assert [p["origin"] for p in off["packages"]] == ["build", "build"]
    assert off["packages"][0]["alternatives"][-1]["command"] == "mambaenv build --package mamba_ssm"
    Path(os.environ["MAMBAENV_CONFIG"]).write_text(json.dumps({"third_party": False}))
    assert [p["origin"] for p in json.loads(run_cli("resolve", *MUST, "--json").stdout)["packages"]] == ["build", "build"]


def test_an_upstream_wheel_comes_before_astrals():
    facts = ["--python", "3.12", "--torch", "2.8.0", "--torch-cuda", "12.8", "--cxx11abi", "true", "--offline", "--json"]
    got = json.loads(run_cli("resolve", *facts).stdout)["packages"]
    assert [p["origin"] for p in got] == ["upstream", "upstream"]
    assert "astral" in [c["origin"] for c in got[0]["candidates"]]  # there, and passed over: upstream comes first


def astral_like_index(root: Path, wheels: dict[str, list[Path]]) -> None:
    """simple/<channel>/<project>/index.html linking the files under files/, with #sha256= as Astral's pages do."""
    (root / "files").mkdir(parents=True)
    for channel_project, files in wheels.items():
        page = root / "simple" / channel_project
        page.mkdir(parents=True)
        links = []
        for f in files:
            (root / "files" / f.name).write_bytes(f.read_bytes())
            digest = hashlib.sha256(f.read_bytes()).hexdigest()
            links.append(f'<a href="../../../files/{f.name.replace("+", "%2B")}#sha256={digest}">{f.name}</a>')
        page.joinpath("index.html").write_text("<html><body>\n" + "<br/>\n".join(links) + "\n</body></html>\n")


@pytest.fixture
def torch_env(tmp_path):
    """A fresh venv that sees the fixture torch through a .pth (so the shared fixture venv is never changed)."""
    venv = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python*/site-packages"))
    torch_site = next((ensure_torch_venv().parent.parent / "lib").glob("python*/site-packages"))
    (site / "fixture-torch.pth").write_text(str(torch_site) + "\n")
    return venv / "bin" / "python"


def served_index(tmp_path: Path) -> Path:
    made = tmp_path / "made"
    made.mkdir()
    plat = f"{TAG}-{TAG}-manylinux_2_28_x86_64"
    w = lambda n: write_wheel(made, n, tag=plat)  # noqa: E731
    root = tmp_path / "astral"
    astral_like_index(root, {
        "cu128/mamba-ssm": [w(f"mamba_ssm-2.3.2.post1+cu.12.8.torch.2.13-{plat}.whl"), w(f"mamba_ssm-2.3.2.post1+cu.12.8.torch.2.12-{plat}.whl")],
        "cu128/causal-conv1d": [w(f"causal_conv1d-1.6.2.post1+cu.12.8.torch.2.13-{plat}.whl")],
    })
    return root


def test_install_takes_the_fitting_wheel_from_an_astral_like_index_checks_its_sha256_and_keeps_torch(tmp_path, torch_env):
    root = served_index(tmp_path)
    torch_before = torch_line(torch_env)
    with StaticServer(root) as srv:
        env = dict(SEAM, MAMBAENV_ASTRAL_INDEX=srv.url + "/simple/{channel}/")
        out = run_cli("install", "--python", str(torch_env), "--no-deps", "--json", env=env)
        asked = list(srv.paths)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert {s["package"]: (s["origin"], s["source"]) for s in result["sources"]} == \
        {"mamba_ssm": ("astral", "listed"), "causal_conv1d": ("astral", "listed")}
    assert sorted(result["wheels"]) == [f"causal_conv1d-1.6.2.post1+cu.12.8.torch.2.13-{TAG}-{TAG}-manylinux_2_28_x86_64.whl",
                                        f"mamba_ssm-2.3.2.post1+cu.12.8.torch.2.13-{TAG}-{TAG}-manylinux_2_28_x86_64.whl"]
    assert "/simple/cu128/mamba-ssm/" in asked and not any("torch.2.12" in p for p in asked)  # the misfit never downloaded
    assert torch_line(torch_env) == torch_before


def test_a_tampered_file_on_the_index_is_refused_and_nothing_is_installed(tmp_path, torch_env):
    root = served_index(tmp_path)
    victim = next((root / "files").glob("causal_conv1d-*"))
    data = bytearray(victim.read_bytes())
    data[-20] ^= 0xFF  # the fault: the bytes no longer match the page's sha256
    victim.write_bytes(bytes(data))
    with StaticServer(root) as srv:
        out = run_cli("install", "--python", str(torch_env), "--no-deps", env=dict(SEAM, MAMBAENV_ASTRAL_INDEX=srv.url + "/simple/{channel}/"))
        asked = list(srv.paths)
    assert any(p.startswith("/files/causal_conv1d") for p in asked)  # it was fetched, then refused
    assert out.returncode == 3 and "sha256" in out.stderr
    assert installed(torch_env) == []


def torch_line(py: Path) -> str:
    return subprocess.run([str(py), "-c", "import torch; print(torch.__version__, torch.__file__)"], capture_output=True, text=True,
                          check=True).stdout


def installed(py: Path) -> list[str]:
    code = "import importlib.metadata as m; print([d.metadata['Name'] for d in m.distributions() if d.metadata['Name'] in ('mamba_ssm', 'causal_conv1d')])"
    return json.loads(subprocess.run([str(py), "-c", code], capture_output=True, text=True, check=True).stdout.replace("'", '"'))


def test_an_unreachable_astral_index_falls_back_to_the_prediction_and_says_so():
    facts = ["--python", "3.12", "--torch", "2.11.0", "--torch-cuda", "13.0", "--cxx11abi", "true", "--json"]
    got = json.loads(run_cli("resolve", *facts).stdout)["packages"][0]  # online: the conftest's Astral index is a closed port
    assert got["origin"] == "astral" and got["source"] == "predicted"
    assert [e["origin"] for e in got["errors"]] == ["astral"] and "127.0.0.1:9" in got["errors"][0]["error"]
