"""Which CUDA a driver can run: the minimum Linux driver of each CUDA toolkit release.

From NVIDIA's CUDA Toolkit release notes (table "CUDA Toolkit and Corresponding Driver Versions").
A driver runs every CUDA up to the newest row it satisfies; minor-version compatibility lets a
CUDA 12.x build run on any 12.x driver >= 525.60.13 for most kernels, but we report the strict value.
"""
from __future__ import annotations

# (CUDA version, minimum Linux driver), newest first.
MIN_DRIVER_FOR_CUDA: tuple[tuple[str, str], ...] = (
    ("13.0", "580.65.06"),
    ("12.9", "575.51.03"),
    ("12.8", "570.26"),
    ("12.6", "560.28.03"),
    ("12.5", "555.42.02"),
    ("12.4", "550.54.14"),
    ("12.3", "545.23.06"),
    ("12.2", "535.54.03"),
    ("12.1", "530.30.02"),
    ("12.0", "525.60.13"),
    ("11.8", "520.61.05"),
    ("11.7", "515.43.04"),
    ("11.6", "510.39.01"),
    ("11.5", "495.29.05"),
    ("11.4", "470.42.01"),
    ("11.3", "465.19.01"),
    ("11.2", "460.27.03"),
    ("11.1", "455.23"),
    ("11.0", "450.36.06"),
    ("10.2", "440.33"),
)


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def max_cuda_for_driver(driver: str) -> str | None:
    """The newest CUDA this driver supports, or None when it predates every row."""
    for cuda, minimum in MIN_DRIVER_FOR_CUDA:
        if _key(driver) >= _key(minimum):
            return cuda
    return None


def min_driver_for_cuda(cuda: str) -> str | None:
    want = _key(cuda)[:2]
    for c, minimum in reversed(MIN_DRIVER_FOR_CUDA):
        if _key(c) >= want:
            return minimum
    return None


def driver_supports(driver: str, cuda: str) -> bool:
    top = max_cuda_for_driver(driver)
    return top is not None and _key(top) >= _key(cuda)[:2]


# NVIDIA's CUDA minor-version compatibility (CUDA Compatibility guide, "Minor Version Compatibility"):
# any runtime of a major runs on a driver at or above that major's floor, for code shipped as SASS.
# What it does not cover: JIT-compiling PTX newer than the driver, and APIs that need a newer driver.
MINOR_COMPAT_FLOOR: dict[int, str] = {11: "450.80.02", 12: "525.60.13", 13: "580"}


def compat_floor(cuda: str) -> str | None:
    """The lowest driver that runs any CUDA ``cuda``.x runtime through minor-version compatibility."""
    return MINOR_COMPAT_FLOOR.get(_key(cuda)[0]) if _key(cuda) else None


def driver_runs(driver: str, cuda: str) -> tuple[bool, bool]:
    """(runs through minor-version compatibility, meets the strict per-release minimum)."""
    strict = driver_supports(driver, cuda)
    floor = compat_floor(cuda)
    return strict or (floor is not None and _key(driver) >= _key(floor)), strict
