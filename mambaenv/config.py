"""Where mambaenv keeps things, and settings from the environment and the config file."""
from __future__ import annotations

import json
import os
from pathlib import Path

import platformdirs


def cache_dir() -> Path:
    path = Path(os.environ.get("MAMBAENV_CACHE_DIR") or platformdirs.user_cache_dir("mambaenv"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def config_file() -> Path:
    return Path(os.environ.get("MAMBAENV_CONFIG") or Path(platformdirs.user_config_dir("mambaenv")) / "config.json")


def load_config() -> dict:
    path = config_file()
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def mirrors(cli_mirrors: list[str] | None = None) -> list[str]:
    """Ordered URL prefixes tried before the original: flags, then MAMBAENV_MIRROR, then the config file."""
    out = list(cli_mirrors or [])
    env = os.environ.get("MAMBAENV_MIRROR")
    if env:
        out += [m for m in env.replace(",", " ").split() if m]
    out += list(load_config().get("mirrors", []))
    seen, ordered = set(), []
    for m in out:
        if m not in seen:
            seen.add(m)
            ordered.append(m)
    return ordered


def wheelhouses(cli_wheelhouses: list[str] | None = None) -> list[str]:
    """Wheelhouses (folders, file:// or PEP 503 index URLs) asked before the catalog: flags, then
    MAMBAENV_WHEELHOUSE, then the config file's "wheelhouses"; each once, in that order."""
    out = list(cli_wheelhouses or [])
    out += [w for w in os.environ.get("MAMBAENV_WHEELHOUSE", "").replace(",", " ").split() if w]
    value = load_config().get("wheelhouses", [])
    out += [value] if isinstance(value, str) else list(value)
    return list(dict.fromkeys(out))
