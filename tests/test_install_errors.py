"""Install failures in one true line, from real pip and uv runs against a real mamba_ssm wheel with missing dependencies."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mambaenv.install_errors import read_install_error, uv_error
from tests.conftest import run_cli
from tests.fixture_builders import ensure_torch_venv, fixture_wheel, wheelhouse

SEAM = {"MAMBAENV_ASSUME_TORCH_CUDA": "12.8"}
# mamba_ssm 2.3.2.post1's own Requires-Dist that no folder here holds (the wheelhouse has einops, transformers, ...).
MISSING = ["tilelang==0.1.8", "apache-tvm-ffi<=0.1.9", "quack-kernels>=0.3.4", "triton>=3.5.0"]
NO_DOWNLOADS = {"UV_PYTHON_DOWNLOADS": "never", "PIP_CONFIG_FILE": os.devnull}


def _uv():
    from uv import find_uv_bin

    return find_uv_bin()


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("install-errors")
    torch_py = ensure_torch_venv()
    venv = root / "env"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)  # with pip: the pip run is real pip
    site = next((venv / "lib").glob("python*/site-packages"))
    torch_site = next((Path(torch_py).parent.parent / "lib").glob("python*/site-packages"))
    (site / "fixture-torch.pth").write_text(str(torch_site) + "\n")
    return {"python": venv / "bin" / "python", "wheel": fixture_wheel("mamba_ssm", "2.3.2.post1"), "house": wheelhouse()}


def _freeze(python):
    out = subprocess.run([str(python), "-m", "pip", "freeze", "--all"], capture_output=True, text=True, check=True)
    return out.stdout.splitlines()


def test_real_pip_no_index_failure_names_every_missing_dependency(setup):
    proc = subprocess.run([str(setup["python"]), "-m", "pip", "install", "--disable-pip-version-check", "--no-index",
                           "--find-links", str(setup["house"]), str(setup["wheel"])], capture_output=True, text=True,
                          env=dict(os.environ, **NO_DOWNLOADS))
    assert proc.returncode != 0 and "No matching distribution found for tilelang" in proc.stdout + proc.stderr  # the real failure
    what, fix = read_install_error(proc.stdout + proc.stderr, [setup["wheel"]], [setup["house"]], _freeze(setup["python"]), offline=True)
    assert what.startswith("mamba_ssm 2.3.2.post1 needs ")
    for req in MISSING:
        assert req in what
    assert "einops" not in what and "torch" not in what.replace("tvm", "")  # present in the folder / the env
    assert "--find-links" in fix and "--no-deps" in fix and "mambaenv bundle" in fix and "\n" not in what + fix


def test_real_uv_failure_is_read_whole_not_cut_at_its_wrapped_line(setup):
    proc = subprocess.run([_uv(), "pip", "install", "--python", str(setup["python"]), "--no-index", "--find-links", str(setup["house"]),
                           str(setup["wheel"])], capture_output=True, text=True, env=dict(os.environ, **NO_DOWNLOADS))
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "we can conclude" in out
    assert "requirements are unsatisfiable" in uv_error(out)  # the continuation lines are joined, not dropped
    what, _ = read_install_error(out, [setup["wheel"]], [setup["house"]], _freeze(setup["python"]), offline=True)
    for req in MISSING:
        assert req in what


def test_install_command_says_what_is_missing_in_one_line(setup):
    out = run_cli("install", "--offline-wheel", str(setup["wheel"]), "--python", str(setup["python"]),
                  "--find-links", str(setup["house"]), env=dict(SEAM, **NO_DOWNLOADS))
    assert out.returncode == 5, out.stderr
    err = " ".join(out.stderr.split())
    assert "the install failed: mamba_ssm 2.3.2.post1 needs tilelang==0.1.8" in err
    assert "quack-kernels>=0.3.4" in err and "nothing was changed" in err and "--base-python" not in err


UV_PYENV_SHIM = """\
error: Failed to inspect Python interpreter from provided path at `/root/.pyenv/shims/python3.10`
  cause: Querying Python at `/root/.pyenv/shims/python3.10` failed with exit status exit status: 127

         [stderr]
         pyenv: python3.10: command not found

         The `python3.10' command exists in these Python versions:
           3.10.13

         Note: See 'pyenv help global' for tips on allowing multiple
               Python versions to be found at the same time.
"""


def test_a_pyenv_shim_is_named_with_the_real_interpreter_and_only_real_options():
    what, fix = read_install_error(UV_PYENV_SHIM)
    assert what == "python3.10 is a pyenv shim for Python 3.10.13, which is not active in this shell"
    assert "pyenv shell 3.10.13" in fix and ".pyenv/versions/3.10.13/bin/python3.10 -m venv" in fix and "--base-python" not in fix


@pytest.mark.skipif(not Path.home().joinpath(".pyenv/shims/python3.10").exists(), reason="needs pyenv's python3.10 shim")
def test_real_uv_venv_on_an_inactive_pyenv_shim(tmp_path):
    shim = str(Path.home() / ".pyenv" / "shims" / "python3.10")
    probe = subprocess.run([shim, "-V"], capture_output=True, text=True)
    if probe.returncode == 0:
        pytest.skip("python3.10 is active here")
    proc = subprocess.run([_uv(), "venv", "--quiet", "--python", shim, str(tmp_path / "v")], capture_output=True, text=True,
                          env=dict(os.environ, **NO_DOWNLOADS))
    assert proc.returncode != 0
    what, _ = read_install_error(proc.stderr + proc.stdout)
    assert "pyenv shim" in what


# The offline server of the user story: the wheels are at hand (a local build in mambaenv's cache, as after
# `mambaenv build`), the env lacks some of their dependencies, and the index cannot be reached (port 9 on
# loopback: nothing listens). Retries are cut to one so the test does not wait out the installers' back-off.
CLOSED_INDEX = "http://127.0.0.1:9/simple/"
ONE_RETRY = {"PIP_RETRIES": "1", "UV_HTTP_RETRIES": "1"}


@pytest.fixture(scope="module")
def torch_only_env(tmp_path_factory):
    """A venv with pip and torch really installed (uv sees what it has), and nothing else of the wheels' needs."""
    py = tmp_path_factory.mktemp("offline-server") / "env"
    subprocess.run([_uv(), "venv", "-q", "--seed", "--python", sys.executable, str(py)], check=True, env=_isolated())
    python = py / "bin" / "python"
    subprocess.run([_uv(), "pip", "install", "-q", "--python", str(python), "--no-index", "--find-links", str(wheelhouse()), "torch"],
                   check=True, env=_isolated())
    return python


def _isolated(**extra) -> dict:
    """No machine-wide pip/uv configuration (this machine's adds indexes and find-links): the closed port is the only index."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    return dict(env, PIP_CONFIG_FILE=os.devnull, UV_NO_CONFIG="1", PIP_DISABLE_PIP_VERSION_CHECK="1", **extra)


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_an_unreachable_index_says_what_the_env_lacks_and_the_ways_on_in_one_line(torch_only_env, isolated_cache, monkeypatch, installer):
    from mambaenv.build_cache import key_for_target, store_build
    from mambaenv.detect.pyenv import probe_python

    for k in [k for k in os.environ if k.startswith(("PIP_", "UV_"))]:
        monkeypatch.delenv(k)
    env = _isolated(**SEAM, **ONE_RETRY, **({"MAMBAENV_NO_UV": "1"} if installer == "pip" else {}))
    monkeypatch.setenv("MAMBAENV_ASSUME_TORCH_CUDA", SEAM["MAMBAENV_ASSUME_TORCH_CUDA"])
    target = probe_python(str(torch_only_env)).target()
    for package, version in (("mamba_ssm", "2.2.4"), ("causal_conv1d", "1.5.0.post8")):
        store_build(fixture_wheel(package, version), key_for_target(package, target, "ab" * 32, ["9.0"]), isolated_cache)
    assert "einops" not in " ".join(_freeze(torch_only_env)).lower()  # the premise: a dependency the env lacks
    out = run_cli("install", "--python", str(torch_only_env), "--index-url", CLOSED_INDEX, env=env)
    assert out.returncode == 5, out.stderr
    [line] = [ln for ln in out.stderr.splitlines() if ln.startswith("error:")]
    assert "mamba_ssm 2.2.4" in line and "einops" in line and "transformers" in line and "torch" not in line  # torch is there
    assert f"no package index can be reached ({CLOSED_INDEX}: Connection refused)" in line
    assert "--no-deps" in line and "--find-links" in line and "mambaenv bundle" in line
    for raw in ("cause:", "Retrying", "NewConnectionError", "Request failed", "No matching distribution"):
        assert raw not in out.stderr  # the installer's own chain stays out of the human answer
    as_json = run_cli("install", "--python", str(torch_only_env), "--index-url", CLOSED_INDEX, "--json", env=env)
    answer = json.loads(as_json.stdout)
    assert line == f"error: {answer['error']}; {answer['fix']}"
    assert "Connection refused" in answer["detail"] and "127.0.0.1:9" in answer["detail"]  # the chain, for whoever asks


# uv's chain on the offline H200 (2026-12-06): the issue quotes its ends; the lines between are uv 0.13's, as it prints
# them for the closed port above, with the resolver's words for a name that does not resolve.
UV_NO_DNS = """\
Using Python 3.12.3 environment at: /opt/torch/.venv
error: Request failed after 3 retries in 9.7s
  cause: Failed to fetch: https://pypi.org/simple/apache-tvm-ffi/
  cause: error sending request for url (https://pypi.org/simple/apache-tvm-ffi/)
  cause: client error (Connect)
  cause: dns error
  cause: failed to lookup address information: Temporary failure in name resolution
"""


def test_the_offline_servers_dns_failure_names_the_wheels_needs_not_the_chain(setup):
    what, fix = read_install_error(UV_NO_DNS, [setup["wheel"]], [], _freeze(setup["python"]))
    assert what.startswith("mamba_ssm 2.3.2.post1 needs tilelang==0.1.8, apache-tvm-ffi<=0.1.9")
    assert what.endswith("which this env lacks, and no package index can be reached "
                         "(https://pypi.org/simple/: failed to lookup address information: Temporary failure in name resolution)")
    assert "Request failed" not in what + fix and "--find-links" in fix and "--no-deps" in fix and "mambaenv bundle" in fix
