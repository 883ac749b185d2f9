"""conda envs whose torch is conda-forge's pytorch: the probe names the channel, the plan answers with conda-forge's own
builds (before upstream's pip wheels), and install puts them in with conda, the env's pytorch held where it is.

conda's channels cannot be reached here: tests/standins/conda stands in (the one seam). It makes real envs, writes the
conda-meta records conda writes, and installs "from the channel" out of folders of real wheels (CONDA_STANDIN_CHANNEL);
every command line it gets is logged and asserted.
"""
import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import run_cli
from tests.fixture_builders import fixture_wheel, wheelhouse
from tests.test_conda import fake_torch_channel, standin  # noqa: F401  (standin: the stand-in conda on PATH, a fixture)
from tests.wheels import write_wheel

TAG = f"cp{sys.version_info[0]}{sys.version_info[1]}"
PYTORCH_BUILD = f"cuda129_generic_py{sys.version_info[0]}{sys.version_info[1]}_h0a1b2c3_200"  # what the stand-in names it
FREEZE = "import importlib.metadata as m; print('\\n'.join(sorted(d.metadata['Name'].lower().replace('_', '-') + '==' + d.version " \
         "for d in m.distributions())))"


def freeze(python) -> list[str]:
    return subprocess.run([str(python), "-c", FREEZE], capture_output=True, text=True, check=True).stdout.splitlines()


def channel(tmp_path, torch="2.10.0", mamba_requires=("torch", "packaging"), causal="1.6.2.post1", extra_torch=None) -> str:
    """The channel as the stand-in reads it: torch, mamba-ssm and causal-conv1d wheels (causal-conv1d's is the pure-Python build
    of its real sdist), then the fixtures' wheelhouse for what they depend on."""
    (tmp_path / "more").mkdir(parents=True)
    folder = fake_torch_channel(tmp_path, torch)
    if extra_torch:
        shutil.copy(fake_torch_channel(tmp_path / "more", extra_torch) / f"torch-{extra_torch}-py3-none-any.whl", folder)
    write_wheel(folder, "mamba_ssm-2.3.1-py3-none-any.whl", requires=list(mamba_requires))
    if causal:
        shutil.copy(fixture_wheel("causal_conv1d", causal), folder / f"causal_conv1d-{causal}-py3-none-any.whl")
    return os.pathsep.join([str(folder), str(wheelhouse())])


def conda_forge_env(standin, chan: str, torch="2.10.0", cuda="12.9", name="cfenv"):  # noqa: F811
    """A conda env the user made with conda-forge's pytorch (before mambaenv is run); the log starts empty after it."""
    env = dict(os.environ, **standin.env, CONDA_STANDIN_CHANNEL=chan)
    subprocess.run(["conda", "create", "-y", "-n", name, "python=3.11", f"pytorch={torch}=cuda*", f"cuda-version={cuda}", "-c",
                    "conda-forge"], env=env, check=True, capture_output=True)
    (standin.base.parent / "conda.log").unlink()
    return standin.base / "envs" / name


def seam(standin, chan: str) -> dict:  # noqa: F811
    """The stand-in on PATH with its channel; MIRROR_ONLY without a mirror: a download, were one tried, fails at once; no
    plain progress line on a slow machine, so stderr holds the error alone."""
    return dict(standin.env, CONDA_STANDIN_CHANNEL=chan, MAMBAENV_MIRROR_ONLY="1", MAMBAENV_PROGRESS_EVERY_S="3600")


def conda_records(prefix) -> list[str]:
    return sorted(p.name for p in (prefix / "conda-meta").glob("*.json"))


# --- the probe ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("record,channel_name", [
    ({"channel": "https://conda.anaconda.org/conda-forge/linux-64"}, "conda-forge"),  # conda, micromamba
    ({"channel": "conda-forge"}, "conda-forge"),
    ({"channel": "https://conda.anaconda.org/pytorch/linux-64"}, "pytorch"),
    ({"channel": "https://repo.anaconda.com/pkgs/main/linux-64"}, "pkgs/main"),
    ({"channel": "https://conda.anaconda.org/conda-forge/label/rc/win-64"}, "conda-forge"),
    ({"url": "https://conda.anaconda.org/conda-forge/linux-aarch64/pytorch-2.10.0-cuda129_generic_py311_h1_200.conda"}, "conda-forge"),
    ({}, None),
])
def test_the_probe_reads_the_channel_in_each_form_conda_meta_records_have(record, channel_name):
    from mambaenv.detect.probe_script import conda_channel

    assert conda_channel(record) == channel_name


def test_the_probe_says_where_a_conda_envs_torch_comes_from_and_doctor_json_keeps_it(tmp_path, standin):  # noqa: F811
    from mambaenv.target import target_from_doctor_file

    prefix = conda_forge_env(standin, channel(tmp_path, causal=None))
    (prefix / "conda-meta" / "pytorch-cuda-12.1-ha16c6d3_6.json").write_text(json.dumps({"name": "pytorch-cuda", "version": "12.1",
                                                                                       "channel": "https://conda.anaconda.org/pytorch/noarch"}))
    out = run_cli("doctor", "--env", str(prefix), "--json", "--offline")
    target = json.loads(out.stdout)["target"]
    assert (target["torch_channel"], target["torch_conda"]) == ("conda-forge", f"pytorch=2.10.0={PYTORCH_BUILD}")
    saved = tmp_path / "doctor.json"
    saved.write_text(out.stdout)
    env, _ = target_from_doctor_file(str(saved))  # what bundle --from reads on the other machine
    assert (env.env.torch_channel, env.env.torch_conda) == ("conda-forge", f"pytorch=2.10.0={PYTORCH_BUILD}")
    plain = json.loads(run_cli("doctor", "--python", sys.executable, "--json", "--offline").stdout)["target"]
    assert plain["torch_channel"] is None and plain["torch_conda"] is None


# --- resolve and doctor --------------------------------------------------------------------------------------------------

def test_resolve_answers_with_conda_forges_builds_before_upstream_for_a_conda_forge_env(tmp_path, standin):  # noqa: F811
    prefix = conda_forge_env(standin, channel(tmp_path, causal=None))
    answer = json.loads(run_cli("resolve", "--env", str(prefix), "--offline", "--json").stdout)
    by = {p["package"]: p for p in answer["packages"]}
    keep = f'"pytorch=2.10.0={PYTORCH_BUILD}"'
    assert {k: (p["origin"], p["source"], p["requirement"], p["file"], p["url"]) for k, p in by.items()} == {
        "mamba_ssm": ("conda-forge", "predicted", "mamba-ssm=2.3.1=*_1", None, None),
        "causal_conv1d": ("conda-forge", "predicted", "causal-conv1d=1.6.2.post1=cuda129*_4", None, None)}
    assert by["causal_conv1d"]["command"] == f'conda install -n cfenv -c conda-forge "causal-conv1d=1.6.2.post1=cuda129*_4" {keep}'
    assert by["causal_conv1d"]["command"] in by["causal_conv1d"]["reason"]
    origins = [c["origin"] for c in by["mamba_ssm"]["candidates"] if c["fits"]]
    assert origins.index("conda-forge") < origins.index("upstream")  # upstream's pip wheel fits too, but is built against PyPI's torch
    # the same facts without conda-forge's pytorch: upstream's wheels
    facts = ["--python", "3.11", "--torch", "2.10.0", "--torch-cuda", "12.9", "--cxx11abi", "true", "--offline", "--json"]
    assert {p["origin"] for p in json.loads(run_cli("resolve", *facts).stdout)["packages"]} == {"upstream"}


def test_a_wheelhouse_still_comes_before_conda_forge(tmp_path, standin):  # noqa: F811
    prefix = conda_forge_env(standin, channel(tmp_path, causal=None))
    house = tmp_path / "house"
    house.mkdir()
    write_wheel(house, f"causal_conv1d-1.6.2.post1+cu12torch2.10cxx11abiTRUE-{TAG}-{TAG}-linux_x86_64.whl", tag=f"{TAG}-{TAG}-linux_x86_64")
    answer = json.loads(run_cli("resolve", "--env", str(prefix), "--wheelhouse", str(house), "--offline", "--json").stdout)
    assert {p["package"]: p["origin"] for p in answer["packages"]} == {"mamba_ssm": "conda-forge", "causal_conv1d": "wheelhouse"}


def test_doctor_gives_the_conda_command_as_the_next_step(tmp_path, standin):  # noqa: F811
    prefix = conda_forge_env(standin, channel(tmp_path, causal=None))
    checks = {c["name"]: c for c in json.loads(run_cli("doctor", "--env", str(prefix), "--json", "--offline").stdout)["checks"]}
    command = f'conda install -n cfenv -c conda-forge "mamba-ssm=2.3.1=*_1" "pytorch=2.10.0={PYTORCH_BUILD}"'
    assert (checks["wheel:mamba_ssm"]["status"], checks["wheel:mamba_ssm"]["fix"]) == ("info", command)
    assert f"fix: {command}" in run_cli("doctor", "--env", str(prefix), "--offline").stdout


def test_download_bundle_and_docker_build_never_take_conda_forges_builds():
    """They plan with the file origins (commands/files.py, containers.py): a conda-forge env gets upstream's file there."""
    from mambaenv.facts import Target, TargetEnv
    from mambaenv.plan import FILE_ORIGINS, ORIGINS, PlanRequest, plan

    env = TargetEnv("3.11", torch="2.10.0", torch_cuda="12.9", cxx11_abi=True, torch_channel="conda-forge",
                    torch_conda="pytorch=2.10.0=cuda129_generic_py311_h0a1b2c3_200")
    everything = plan(PlanRequest(Target(env), offline=True, origins=ORIGINS))
    files = plan(PlanRequest(Target(env), offline=True, origins=FILE_ORIGINS))
    assert [p.chosen.origin for p in everything.packages] == ["conda-forge", "conda-forge"]
    assert [p.chosen.origin for p in files.packages] == ["upstream", "upstream"]
    assert not any(c.origin == "conda-forge" for p in files.packages for c in p.candidates)


def test_a_build_for_a_newer_cuda_minor_than_the_envs_is_not_offered():
    """conda-forge's causal-conv1d for pytorch 2.10 is built for CUDA 12.9 and 13.0; its cuda-version run constraint keeps
    it out of a CUDA 12.8 env, though compat's CUDA row (the major) passes."""
    from mambaenv.facts import Target, TargetEnv
    from mambaenv.plan import PlanRequest, plan

    env = TargetEnv("3.11", torch="2.10.0", torch_cuda="12.8", cxx11_abi=True, torch_channel="conda-forge")
    causal = plan(PlanRequest(Target(env), ("causal_conv1d",), offline=True)).packages[0]
    assert causal.chosen.origin == "upstream"
    refused = [c for c in causal.candidates if c.origin == "conda-forge"]
    assert refused and not any(c.fits for c in refused)
    assert any(c.verdict.failed == ("cuda-version",) and "CUDA 12.9" in c.reason and "CUDA 12.8" in c.reason for c in refused)


# --- install ---------------------------------------------------------------------------------------------------------------

def test_install_into_a_conda_forge_env_uses_conda_and_keeps_its_pytorch(tmp_path, standin):  # noqa: F811
    chan = channel(tmp_path)
    prefix = conda_forge_env(standin, chan)
    torch_before, records_before = [x for x in freeze(prefix / "bin" / "python") if x.startswith("torch==")], conda_records(prefix)
    out = run_cli("install", "--env", str(prefix), "--json", env=seam(standin, chan))
    assert out.returncode == 0, out.stderr
    assert standin.log() == [["install", "-y", "-p", str(prefix), "-c", "conda-forge", "mamba-ssm=2.3.1=*_1",
                              "causal-conv1d=1.6.2.post1=cuda129*_4", f"pytorch=2.10.0={PYTORCH_BUILD}"]]
    after = freeze(prefix / "bin" / "python")
    assert "mamba-ssm==2.3.1" in after and "causal-conv1d==1.6.2.post1" in after
    assert [x for x in after if x.startswith("torch==")] == torch_before == ["torch==2.10.0"]
    assert set(records_before) < set(conda_records(prefix))  # pytorch's record untouched, one record per new package
    res = json.loads(out.stdout)
    assert res["conda"] == ["mamba-ssm=2.3.1=*_1", "causal-conv1d=1.6.2.post1=cuda129*_4"] and res["wheels"] == []
    assert {s["package"]: s["origin"] for s in res["sources"]} == {"mamba_ssm": "conda-forge", "causal_conv1d": "conda-forge"}


def test_install_new_env_with_conda_forge_makes_the_env_then_installs_with_conda(tmp_path, standin):  # noqa: F811
    out = run_cli("install", "--new-env", "cfnew", "--conda-forge", "--python", "3.11", "--torch", "2.10.0", "--torch-cuda", "12.9",
                  env=seam(standin, channel(tmp_path)))
    assert out.returncode == 0, out.stderr
    prefix = standin.base / "envs" / "cfnew"
    assert [a for a in standin.log() if a[0] != "info"] == [
        ["create", "-y", "-n", "cfnew", "python=3.11", "pytorch=2.10.0=cuda*", "cuda-version=12.9", "-c", "conda-forge"],
        ["install", "-y", "-p", str(prefix), "-c", "conda-forge", "mamba-ssm=2.3.1=*_1", "causal-conv1d=1.6.2.post1=cuda129*_4",
         f"pytorch=2.10.0={PYTORCH_BUILD}"]]
    after = freeze(prefix / "bin" / "python")
    assert {"mamba-ssm==2.3.1", "causal-conv1d==1.6.2.post1", "torch==2.10.0"} <= set(after)
    assert "conda-forge's mamba-ssm=2.3.1=*_1, causal-conv1d=1.6.2.post1=cuda129*_4 with conda" in out.stdout


def test_a_build_the_channel_lacks_fails_in_one_line_and_leaves_no_new_env(tmp_path, standin):  # noqa: F811
    out = run_cli("install", "--new-env", "cfnew", "--conda-forge", "--python", "3.11", "--torch", "2.10.0", "--torch-cuda", "12.9",
                  env=seam(standin, channel(tmp_path, causal=None)))
    assert out.returncode == 5
    err = out.stderr.strip().splitlines()
    assert len(err) == 1 and "conda could not install mamba-ssm=2.3.1=*_1, causal-conv1d=1.6.2.post1=cuda129*_4 from conda-forge" in err[0]
    assert standin.log()[-1] == ["env", "remove", "-y", "-n", "cfnew"] and not (standin.base / "envs" / "cfnew").exists()


def test_a_build_that_needs_another_pytorch_is_refused_and_torch_stays(tmp_path, standin):  # noqa: F811
    """The channel's mamba-ssm wants torch >= 2.10.1 and the channel has it: asked for as it is, the env's pytorch cannot move."""
    prefix = conda_forge_env(standin, channel(tmp_path, causal=None))
    chan = channel(tmp_path / "c2", mamba_requires=("torch>=2.10.1",), extra_torch="2.10.1")
    records = conda_records(prefix)
    out = run_cli("install", "--env", str(prefix), env=seam(standin, chan))
    assert out.returncode == 5 and "could not install" in out.stderr and "Unsatisfiable" in out.stderr
    after = freeze(prefix / "bin" / "python")
    assert "torch==2.10.0" in after and not any(x.startswith(("mamba-ssm", "causal-conv1d")) for x in after)
    assert conda_records(prefix) == records


def test_conda_forges_build_is_removed_again_when_the_pip_part_fails(tmp_path, standin):  # noqa: F811
    """torch 2.13 from conda-forge, CUDA 13: causal-conv1d comes from conda-forge, mamba-ssm (none there for 2.13) from a
    wheelhouse; that wheel's dependencies cannot be found (--no-index), so the whole install is undone, conda's part with conda."""
    chan = channel(tmp_path, torch="2.13.0", causal="1.7.0")
    prefix = conda_forge_env(standin, chan, torch="2.13.0", cuda="13.0")
    house = tmp_path / "house"
    house.mkdir()
    shutil.copy(fixture_wheel("mamba_ssm", "2.2.4"), house / f"mamba_ssm-2.2.4+cu13torch2.13cxx11abiTRUE-{TAG}-{TAG}-linux_x86_64.whl")
    before, records = freeze(prefix / "bin" / "python"), conda_records(prefix)
    out = run_cli("install", "--env", str(prefix), "--wheelhouse", str(house), "--no-index",
                  env=seam(standin, chan))
    assert out.returncode == 5 and "rolled back" in out.stderr, out.stderr
    log = standin.log()
    assert log[0][:7] == ["install", "-y", "-p", str(prefix), "-c", "conda-forge", "causal-conv1d=1.7.0=cuda130*_0"]
    assert log[-1] == ["remove", "-y", "-p", str(prefix), "--force", "causal-conv1d"]
    assert freeze(prefix / "bin" / "python") == before and conda_records(prefix) == records


def test_without_a_conda_frontend_on_path_install_says_so_in_one_line_and_changes_nothing(tmp_path, standin):  # noqa: F811
    prefix = conda_forge_env(standin, channel(tmp_path))
    before, records = freeze(prefix / "bin" / "python"), conda_records(prefix)
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if not any(
        os.path.exists(os.path.join(p, exe)) for exe in ("conda", "mamba", "micromamba")))
    out = run_cli("install", "--env", str(prefix), env=dict(seam(standin, ""), PATH=path))
    err = out.stderr.strip().splitlines()
    assert out.returncode == 5 and len(err) == 1 and "installs with conda, mamba or micromamba, and none is on PATH" in err[0]
    assert freeze(prefix / "bin" / "python") == before and conda_records(prefix) == records and standin.log() == []
