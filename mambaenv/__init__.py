"""mambaenv: get mamba_ssm and causal_conv1d working on a GPU machine in minutes."""

__version__ = "0.1.0"
