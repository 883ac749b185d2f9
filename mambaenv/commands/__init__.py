"""The orchestrator: one module per command family; each takes one request dataclass and returns one result.

``cli`` imports the family it needs (``from mambaenv.commands import wheels``); ``commands.X`` still works for
other callers: the names below load their family module on first use, so ``mambaenv --help`` loads none of them.
"""
from __future__ import annotations

import importlib

# name -> the family module that holds it
_HOME = {
    "status_line": "status",
    "DoctorRequest": "diagnose", "DoctorResult": "diagnose", "doctor": "diagnose", "installed_packages": "diagnose",
    "last_smoke": "diagnose",
    "ResolveRequest": "wheels", "ResolveResult": "wheels", "resolve": "wheels", "resolved_wheels": "wheels",
    "gpu_caps_from": "wheels", "from_wheelhouses": "wheels", "catalog_freshness": "wheels", "probe_newer": "wheels",
    "catalog_refresh": "wheels", "catalog_list": "wheels", "catalog_wheels": "wheels", "SOURCE_KEYS": "wheels",
    "DownloadRequest": "files", "DownloadResult": "files", "download_cmd": "files",
    "BundleRequest": "files", "BundleResult": "files", "bundle_cmd": "files",
    "InstallRequest": "install", "install_cmd": "install", "new_env_spec": "install",
    "SmokeRequest": "gpu", "SmokeResult": "gpu", "smoke": "gpu", "native_archs": "gpu",
    "BuildRequest": "gpu", "BuildResult": "gpu", "build_cmd": "gpu",
    "DockerBuildRequest": "containers", "DockerBuildResult": "containers", "docker_build": "containers",
    "DockerRunRequest": "containers", "DockerRunResult": "containers", "docker_run": "containers",
    "_wheels_for_image": "containers",
    "ExplainRequest": "explain", "explain_cmd": "explain", "read_error_lines": "explain",
    "PublishRequest": "publish", "publish_cmd": "publish",
}


def __getattr__(name: str):
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOME))
