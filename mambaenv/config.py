"""Where mambaenv keeps things, and settings from the environment and the config file."""
from __future__ import annotations

import json
import os
from pathlib import Path

import platformdirs

from mambaenv.errors import BadInput

# The config file's keys and their types; anything else in the file is refused, not guessed at.
CONFIG_KEYS = {"mirrors": list, "third_party": bool}


def cache_dir() -> Path:
    from_env = os.environ.get("MAMBAENV_CACHE_DIR")
    path = Path(from_env or platformdirs.user_cache_dir("mambaenv"))
    where = "MAMBAENV_CACHE_DIR" if from_env else "the cache folder"
    if path.exists() and not path.is_dir():
        raise BadInput(f"{where} {path} is a file, not a folder", "set MAMBAENV_CACHE_DIR to a folder (or remove the file)")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise BadInput(f"cannot make {where} {path} ({e.strerror})", "set MAMBAENV_CACHE_DIR to a writable folder") from None
    return path


def config_file() -> Path:
    return Path(os.environ.get("MAMBAENV_CONFIG") or Path(platformdirs.user_config_dir("mambaenv")) / "config.json")


def load_config() -> dict:
    """The config file as checked data: a missing file is an empty config, a malformed one an error."""
    path = config_file()
    fix = f"fix {path}: it must be a JSON object such as {{\"mirrors\": [\"https://mirror.example/gh/\"]}}"
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise BadInput(f"cannot read the config file {path} ({e.strerror})", fix) from None
    try:
        data = json.loads(text)
    except ValueError as e:
        raise BadInput(f"the config file {path} is not valid JSON ({e.msg} at line {e.lineno})", fix) from None
    if not isinstance(data, dict):
        raise BadInput(f"the config file {path} holds a JSON {type(data).__name__}, not an object", fix)
    for key, kind in CONFIG_KEYS.items():
        if key in data and not isinstance(data[key], kind):
            raise BadInput(f"the config file {path}: {key!r} is a {type(data[key]).__name__}, it must be a {kind.__name__}", fix)
    bad = [m for m in data.get("mirrors", []) if not isinstance(m, str) or not m.startswith(("http://", "https://"))]
    if bad:
        raise BadInput(f"the config file {path}: mirror {bad[0]!r} is not an http(s) URL prefix", fix)
    return data


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


def third_party_allowed(no_third_party: bool = False) -> bool:
    """May third-party builds (Astral's indexes) answer? No with --no-third-party, or ``"third_party": false`` in the
    config file; yes otherwise."""
    return not no_third_party and load_config().get("third_party", True) is not False
