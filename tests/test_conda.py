"""The conda --new-env path: the exact command lines conda gets, through a stand-in that makes real envs.

conda's channels cannot be reached here, so tests/standins/conda stands in (the one thin seam): it logs each argv,
makes a real env, takes torch from a local folder standing for the channel, and gives torch the CUDA that the
command line asked for (pytorch-cuda / cuda-version) or keeps it CPU-only (cpuonly, a cpu* build), as conda would.
"""
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from mambaenv.envs import conda
from mambaenv.errors import BadInput
from tests.conftest import run_cli
from tests.fixture_builders import fixture_wheel, wheelhouse
from tests.httpserver import LoopbackServer
from tests.wheels import write_wheel

STANDINS = Path(__file__).resolve().parent / "standins"
SEAM = {"MAMBAENV_ASSUME_TORCH_CUDA": "12.8"}  # only where the env holds the real CPU torch and nothing marks it


@pytest.fixture(scope="module")
def fixtures():
    return {"mamba": fixture_wheel("mamba_ssm", "2.2.4"), "causal": fixture_wheel("causal_conv1d", "1.5.0.post8"), "house": wheelhouse()}


@pytest.fixture
def standin(tmp_path):
    """PATH with the conda stand-in first; ``log()`` gives the argv lists it was called with, in order."""
    log = tmp_path / "conda.log"
    base = tmp_path / "conda"
    env = {"PATH": f"{STANDINS}:{os.environ['PATH']}", "CONDA_STANDIN_LOG": str(log), "CONDA_STANDIN_BASE": str(base)}

    class StandIn:
        def __init__(self):
            self.env, self.base = env, base

        def log(self):
            return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

        def creates(self):
            return [a for a in self.log() if a[:1] == ["create"]]

    return StandIn()


def renamed(tmp_path, fixtures, local):
    d = tmp_path / f"wheels-{local}"
    d.mkdir()
    for k in ("mamba", "causal"):
        shutil.copy(fixtures[k], d / fixtures[k].name.replace("cu12torch2.13cxx11abiTRUE", local))
    return d


def fake_torch_channel(tmp_path, version: str) -> Path:
    """A channel folder with a small torch that reports its version and CUDA the way torch/version.py does."""
    channel = tmp_path / "channel"
    channel.mkdir()
    version_py = f"from typing import Optional\n__version__ = '{version}'\ncuda: Optional[str] = None\nhip: Optional[str] = None\n"
    write_wheel(channel, f"torch-{version}-py3-none-any.whl", extra_files={"torch/version.py": version_py.encode()})
    return channel


def env_torch(python) -> dict:
    out = run_cli("doctor", "--python", str(python), "--json", "--offline")
    return json.loads(out.stdout)["target"]


@pytest.mark.parametrize("torch,cuda,forge,packages,channels,by_pip", [
    (None, None, False, ["python=3.11"], [], False),
    ("2.4.0", "12.1", False, ["python=3.11", "pytorch=2.4.0", "pytorch-cuda=12.1"], ["pytorch", "nvidia"], False),
    ("2.5.1", "none", False, ["python=3.11", "pytorch=2.5.1", "cpuonly"], ["pytorch"], False),
    ("2.6.0", "12.6", False, ["python=3.11"], [], True),  # the pytorch channel stopped at 2.5
    ("2.6.0", "12.6", True, ["python=3.11", "pytorch=2.6.0=cuda*", "cuda-version=12.6"], ["conda-forge"], False),
    ("2.6.0", "none", True, ["python=3.11", "pytorch=2.6.0=cpu*"], ["conda-forge"], False),
])
def test_recipe_table(torch, cuda, forge, packages, channels, by_pip):
    plan = conda.recipe("3.11", torch, cuda, forge)
    assert (list(plan.packages), list(plan.channels), plan.torch_by_pip) == (packages, channels, by_pip)


def test_recipe_refuses_torch_without_its_cuda():
    with pytest.raises(BadInput, match="which CUDA") as e:
        conda.recipe("3.11", "2.4.0", None)
    assert "--torch-cuda" in e.value.fix


def test_torch_without_its_cuda_is_refused_before_anything_is_made(tmp_path, standin, fixtures):
    wheels = renamed(tmp_path, fixtures, "cu12torch2.13cxx11abiTRUE")
    out = run_cli("install", "--offline-wheel", str(wheels), "--new-env", "mamba_env", "--python", "3.11", "--torch", "2.13.0",
                  env=standin.env)
    assert out.returncode == 2
    err = out.stderr.strip().splitlines()
    assert len(err) == 1 and "which CUDA" in err[0] and "--torch-cuda" in err[0]
    assert standin.log() == [] and not (standin.base / "envs" / "mamba_env").exists()


def test_old_torch_comes_from_the_pytorch_channel_with_pytorch_cuda(tmp_path, standin, fixtures):
    channel = fake_torch_channel(tmp_path, "2.4.0")
    wheels = renamed(tmp_path, fixtures, "cu12torch2.4cxx11abiFALSE")
    out = run_cli("install", "--offline-wheel", str(wheels), "--new-env", "mamba_env", "--python", "3.11", "--torch", "2.4.0",
                  "--torch-cuda", "12.1", "--find-links", str(fixtures["house"]), "--json",
                  env=dict(standin.env, CONDA_STANDIN_CHANNEL=str(channel)))
    assert out.returncode == 0, out.stderr
    assert standin.creates() == [["create", "-y", "-n", "mamba_env", "python=3.11", "pytorch=2.4.0", "pytorch-cuda=12.1",
                                  "-c", "pytorch", "-c", "nvidia"]]
    python = standin.base / "envs" / "mamba_env" / "bin" / "python"
    target = env_torch(python)  # no seam: the env's own torch says CUDA 12.1, because pytorch-cuda asked for it
    assert (target["torch"], target["torch_cuda"]) == ("2.4.0", "12.1")
    assert json.loads(out.stdout)["activate"] == "conda activate mamba_env"


def test_cpuonly_is_asked_for_only_when_the_user_says_none_and_gives_a_cpu_torch(tmp_path, standin, fixtures):
    channel = fake_torch_channel(tmp_path, "2.4.0")
    wheels = renamed(tmp_path, fixtures, "cu12torch2.4cxx11abiFALSE")
    out = run_cli("install", "--offline-wheel", str(wheels), "--new-env", "mamba_env", "--python", "3.11", "--torch", "2.4.0",
                  "--torch-cuda", "none", "--find-links", str(fixtures["house"]),
                  env=dict(standin.env, CONDA_STANDIN_CHANNEL=str(channel)))
    assert standin.creates() == [["create", "-y", "-n", "mamba_env", "python=3.11", "pytorch=2.4.0", "cpuonly", "-c", "pytorch"]]
    # the stand-in honoured cpuonly: the env's torch is CPU-only, so the CUDA wheels are refused and the env removed
    assert out.returncode == 4 and "CPU-only" in out.stderr
    assert ["env", "remove", "-y", "-n", "mamba_env"] in standin.log()
    assert not (standin.base / "envs" / "mamba_env").exists()


def test_new_torch_is_created_python_only_then_pip_installs_torch(tmp_path, standin, fixtures):
    wheels = renamed(tmp_path, fixtures, "cu12torch2.13cxx11abiTRUE")
    out = run_cli("install", "--offline-wheel", str(wheels), "--new-env", "mamba_env", "--python", "3.11", "--torch", "2.13.0",
                  "--torch-cuda", "12.8", "--find-links", str(fixtures["house"]), "--json", env=dict(standin.env, **SEAM))
    assert out.returncode == 0, out.stderr
    assert standin.creates() == [["create", "-y", "-n", "mamba_env", "python=3.11"]]  # no pytorch channel past 2.5
    python = standin.base / "envs" / "mamba_env" / "bin" / "python"
    freeze = subprocess.run([str(python), "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True).stdout
    assert "torch==2.13.0" in freeze and "mamba_ssm==2.2.4" in freeze.replace("-", "_")


def test_new_torch_comes_from_the_cuda_index_of_the_torch_index_url(tmp_path, standin):
    """The index URL says the CUDA (cu128) and is where pip looks for torch; a loopback server stands in for it."""
    with LoopbackServer() as srv:
        index = srv.url("/whl/cu128")
        out = run_cli("install", "--new-env", "mamba_env", "--python", "3.11", "--torch", "2.13.0", "--torch-index", index,
                      env=standin.env)
        asked = [p for _, p, _ in srv.requests]
    assert out.returncode == 5 and "installing torch 2.13.0 into the new env failed" in out.stderr
    assert any(p.startswith("/whl/cu128/torch") for p in asked), asked  # the fault happened where we sent it
    assert standin.creates() == [["create", "-y", "-n", "mamba_env", "python=3.11"]]
    assert ["env", "remove", "-y", "-n", "mamba_env"] in standin.log()
    assert not (standin.base / "envs" / "mamba_env").exists()


def test_conda_forge_builds_on_request(tmp_path, standin, fixtures):
    wheels = renamed(tmp_path, fixtures, "cu12torch2.13cxx11abiTRUE")
    out = run_cli("install", "--offline-wheel", str(wheels), "--new-env", "mamba_env", "--python", "3.11", "--torch", "2.13.0",
                  "--torch-cuda", "12.8", "--conda-forge", "--find-links", str(fixtures["house"]),
                  env=dict(standin.env, CONDA_STANDIN_CHANNEL=str(fixtures["house"])))
    assert out.returncode == 0, out.stderr
    assert standin.creates() == [["create", "-y", "-n", "mamba_env", "python=3.11", "pytorch=2.13.0=cuda*", "cuda-version=12.8",
                                  "-c", "conda-forge"]]
    target = env_torch(standin.base / "envs" / "mamba_env" / "bin" / "python")
    assert (target["torch"], target["torch_cuda"]) == ("2.13.0+cpu", "12.8")


def test_a_channel_without_that_torch_fails_cleanly_and_leaves_no_env(tmp_path, standin):
    channel = fake_torch_channel(tmp_path, "2.4.0")  # the channel has 2.4.0, the user asks for 2.3.1
    out = run_cli("install", "--new-env", "mamba_env", "--python", "3.11", "--torch", "2.3.1", "--torch-cuda", "12.1",
                  env=dict(standin.env, CONDA_STANDIN_CHANNEL=str(channel)))
    assert out.returncode == 5
    err = out.stderr.strip().splitlines()
    assert len(err) == 1 and "could not create mamba_env: PackagesNotFoundError" in err[0]
    assert standin.log()[-1] == ["env", "remove", "-y", "-n", "mamba_env"]
    assert not (standin.base / "envs" / "mamba_env").exists()
