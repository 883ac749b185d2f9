"""Facts about upstream's build platforms and PyTorch's wheel index, in one place (the packages themselves: packages.py).

Data only: every module that needs one of these names imports it from here.
"""
from __future__ import annotations

import re

# Machines upstream publishes wheels for (linux_<machine>); aarch64 since mamba v2.3.0 / causal v1.6.0.
MACHINES = ("x86_64", "aarch64")

# Upstream wheels are built on Ubuntu 22.04 runners (20.04 before mid-2025) and tagged linux_*,
# so pip cannot check glibc for us.
BUILD_GLIBC = "2.35"

# Architectures upstream's setup.py compiles for (sm_75 and newer since mamba 2.x; sm_53+ earlier).
MIN_CAPABILITY = "7.0"

# PyTorch's own wheel index, one folder per CUDA build: .../cu121, .../cu128, .../cpu.
TORCH_INDEX_URL = "https://download.pytorch.org/whl"

# The `pytorch` conda channel's last release; newer torch comes as pip wheels (also inside conda envs) or from conda-forge.
PYTORCH_CHANNEL_LAST_TORCH = "2.5"

_INDEX_FOLDER = re.compile(r"/(cu\d{3,}|cpu)/?$")


def torch_index_for(cuda: str | None) -> str:
    """``12.8`` -> ``https://download.pytorch.org/whl/cu128``; None (a CPU-only torch) -> ``.../cpu``."""
    return f"{TORCH_INDEX_URL}/{'cu' + cuda.replace('.', '') if cuda else 'cpu'}"


def cuda_of_torch_index(url: str) -> str | None | bool:
    """The CUDA a torch index URL serves: ``.../cu121`` -> ``12.1``, ``.../cpu`` -> None; False when the URL does not say."""
    m = _INDEX_FOLDER.search(url)
    if not m:
        return False
    folder = m.group(1)
    if folder == "cpu":
        return None
    digits = folder[2:]
    return f"{digits[:-1]}.{digits[-1]}"

# How a release's wheel file names spell their CUDA ("era", by release tag; see the catalog).
CUDA_TAG_ERAS = {
    "A": "CUDA major+minor in file names (cu118, cu122)",
    "A'": "files say cu118/cu124, but that tag's setup.py asks for cu11/cu12 (its pip install never finds them)",
    "B": "CUDA major only (cu11, cu12)",
    "C": "CUDA major only, cu13 too, plus wheels built in NGC PyTorch containers",
}
