"""Requirement strings as real wheels and real freeze output write them."""
from mambaenv.requirement import dependencies_to_download, distribution_name


def test_dependencies_leave_out_torch_and_extras_and_keep_versions():
    requires = [  # mamba_ssm 2.2.4's Requires-Dist, as its METADATA lists them
        "torch", "triton", "ninja", "einops", "transformers", "packaging", "setuptools>=61.0.0",
        "causal-conv1d>=1.4.0; extra == \"causal-conv1d\"", "Torch>=2.0; python_version >= \"3.8\"", "numpy[dev] >=1.2",
    ]
    assert dependencies_to_download(requires) == [
        "einops", "ninja", "numpy[dev]>=1.2", "packaging", "setuptools>=61.0.0", "transformers", "triton"]


def test_freeze_lines_name_their_distribution():
    assert distribution_name("Mamba_SSM==2.2.4") == "mamba-ssm"
    assert distribution_name("causal_conv1d @ file:///tmp/w/causal_conv1d-1.5.0-cp311-cp311-linux_x86_64.whl") == "causal-conv1d"
    assert distribution_name("torch==2.13.0+cpu") == "torch"
    assert distribution_name("-e git+https://example.invalid/x.git#egg=x") is None
