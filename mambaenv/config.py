"""Where mambaenv keeps things, and settings from the environment and the config file."""
from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from mambaenv import jsonshape
from mambaenv.errors import BadInput

# The config file's keys and their shapes (jsonshape); any other key is refused, not guessed at.
CONFIG_SHAPE = {"?mirrors": [jsonshape.http_url], "?wheelhouses": ([str], str), "?third_party": bool}
CONFIG_MAX_BYTES = 1 << 20


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
    """The config file as checked data: a missing file is an empty config; anything else that is not an object with the
    known keys, of their types, is one line naming the file and the key."""
    path = config_file()
    fix = f"fix {path}: it must be a JSON object such as {{\"mirrors\": [\"https://mirror.example/gh/\"], \"wheelhouses\": [\"/nfs/wh\"]}}"
    where = f"the config file {path}"
    try:
        data = jsonshape.loads(jsonshape.read_file(path, where, CONFIG_MAX_BYTES), where)
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise BadInput(f"cannot read {where} ({e.strerror})", fix) from None
    except ValueError as e:
        raise BadInput(str(e), fix) from None
    if not isinstance(data, dict):
        raise BadInput(f"{where} holds a JSON {type(data).__name__}, not an object", fix)
    unknown = sorted(k for k in data if "?" + k not in CONFIG_SHAPE)
    if unknown:
        known = ", ".join(k.lstrip("?") for k in CONFIG_SHAPE)
        raise BadInput(f"{where}: unknown key {unknown[0]!r} (the keys are {known})", fix)
    problem = jsonshape.problem(data, CONFIG_SHAPE)
    if problem:
        raise BadInput(f"{where}: {problem}", fix)
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
