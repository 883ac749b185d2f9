"""The smoke test's cold-start saving: each of mamba_ssm's Triton autotuners keeps one config, in the smoke
process only. Triton (and a GPU) cannot run here, so a stand-in of triton.runtime.autotuner's two names is
the seam; the H200 transcript (docs/examples/h200-split-build.md) shows the real run."""
import importlib.util
import sys
import types
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "mambaenv" / "smoke" / "smoke_script.py"


class Config:  # the attributes restrict_autotune reads from triton.Config
    def __init__(self, kwargs, num_warps=4, num_stages=2):
        self.kwargs, self.num_warps, self.num_stages = kwargs, num_warps, num_stages


class Autotuner:
    def __init__(self, configs):
        self.configs = list(configs)


class Heuristics:  # @triton.heuristics wraps the autotuner: reached through .fn
    def __init__(self, fn):
        self.fn = fn


@pytest.fixture
def smoke(monkeypatch):
    triton = types.ModuleType("triton")
    runtime = types.ModuleType("triton.runtime")
    autotuner = types.ModuleType("triton.runtime.autotuner")
    autotuner.Autotuner = Autotuner
    for name, mod in (("triton", triton), ("triton.runtime", runtime), ("triton.runtime.autotuner", autotuner)):
        monkeypatch.setitem(sys.modules, name, mod)
    spec = importlib.util.spec_from_file_location("smoke_script_under_test", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_each_mamba_autotuner_keeps_its_cheapest_config_and_others_are_untouched(smoke, monkeypatch):
    big = Config({"BLOCK_SIZE_M": 128, "BLOCK_SIZE_N": 256, "BLOCK_SIZE_K": 64}, num_warps=8, num_stages=3)
    small = Config({"BLOCK_SIZE_M": 64, "BLOCK_SIZE_N": 32, "BLOCK_SIZE_K": 32}, num_warps=4, num_stages=2)
    mid = Config({"BLOCK_SIZE_M": 64, "BLOCK_SIZE_N": 64, "BLOCK_SIZE_K": 32}, num_warps=4, num_stages=4)
    chunk_scan, state = Autotuner([big, mid, small]), Autotuner([Config({"BLOCK_SIZE_H": 2}), Config({"BLOCK_SIZE_H": 1})])
    single, foreign = Autotuner([big]), Autotuner([big, small])
    ops = types.ModuleType("mamba_ssm.ops.triton.ssd_chunk_scan")
    ops.kernel, ops.wrapped, ops.alias, ops.single = chunk_scan, Heuristics(state), chunk_scan, single
    other = types.ModuleType("otherpkg.kernels")
    other.kernel = foreign
    monkeypatch.setitem(sys.modules, ops.__name__, ops)
    monkeypatch.setitem(sys.modules, other.__name__, other)

    assert smoke.restrict_autotune() == 2  # the same autotuner imported twice counts once
    assert chunk_scan.configs == [small] and state.configs[0].kwargs == {"BLOCK_SIZE_H": 1}
    assert single.configs == [big] and foreign.configs == [big, small]


def test_without_triton_nothing_is_restricted(monkeypatch):
    monkeypatch.setitem(sys.modules, "triton", None)  # import fails as when triton is absent
    spec = importlib.util.spec_from_file_location("smoke_script_no_triton", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.restrict_autotune() == 0


def test_full_autotune_keeps_every_config_on_request():
    from tests.conftest import run_cli

    assert '"--full-autotune" in argv' in SCRIPT.read_text() and "not full_autotune" in SCRIPT.read_text()
    assert "--full-autotune" in run_cli("smoke", "--help").stdout
