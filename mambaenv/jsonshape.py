"""JSON that came from a file or a server, read as untrusted input: bounded, then checked against the one shape its
reader expects, so that a wrong shape is one line naming the file and the field instead of a traceback deep inside.
Every refusal is a ValueError whose text is that line (this module imports nothing of mambaenv: it sits at the bottom,
beside errors.py); each reader turns it into its own error, with its own fix, or drops the record.

A shape is data:
- a type (``str``, ``int``, ``bool``) or a tuple of them (``(str, None)``: a string or null; ``bool`` is never an int);
- ``[shape]``: a list whose items all have that shape;
- ``{"key": shape, "?opt": shape}``: an object with those keys (``?``: may be missing; others are allowed);
- ``{...: shape}``: an object with any keys, each value of that shape;
- a function ``value -> str | None``: the problem with a value, or None (``sha256_hex``, ``http_url``).
"""
from __future__ import annotations

import json
import os
import re
import stat

_SHA256 = re.compile(r"[0-9a-f]{64}")


def loads(text, where: str):
    """Parse JSON; malformed text and nesting too deep for the parser (100000 ``[``) are both one ValueError."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError(f"{where} nests deeper than any JSON mambaenv reads") from None
    except ValueError as e:  # UnicodeDecodeError too: binary bytes are not JSON
        raise ValueError(f"{where} is not valid JSON ({getattr(e, 'msg', type(e).__name__)})") from None


def read_file(path, where: str, max_bytes: int) -> bytes:
    """A regular file's bytes, at most ``max_bytes``. A FIFO or a device is refused at once (reading one blocks forever,
    or never ends); FileNotFoundError is left to the caller, for whom a missing file usually means 'none yet'."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # opening a FIFO for reading waits for a writer without it
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"{where} is not a regular file")
        if st.st_size > max_bytes:
            raise ValueError(f"{where} is {st.st_size} bytes, more than the {max_bytes} such a file can need")
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read(max_bytes + 1)[:max_bytes]
    finally:
        os.close(fd)


def problem(value, shape, field: str = "") -> str | None:
    """None when ``value`` has ``shape``, else the first field that does not, with what is there."""
    name = field or "the top level"
    if shape is None:
        return None if value is None else f"{name} is {_kind(value)}, not null"
    if callable(shape) and not isinstance(shape, type):
        why = shape(value)
        return f"{name} {why}" if why else None
    if isinstance(shape, list):
        if not isinstance(value, list):
            return f"{name} is {_kind(value)}, not a list"
        return next((p for i, v in enumerate(value) if (p := problem(v, shape[0], f"{field}[{i}]"))), None)
    if isinstance(shape, dict):
        return _object_problem(value, shape, field, name)
    if isinstance(shape, tuple):  # alternatives: the first that fits; else what the value is and what it may be
        if any(problem(value, alt, field) is None for alt in shape):
            return None
        inner = next((alt for alt in shape if isinstance(alt, (list, dict)) and isinstance(value, type(alt))), None)
        if inner is not None:  # the right container with a wrong item: name the item
            return problem(value, inner, field)
        return f"{name} is {_kind(value)}, not {' or '.join(_kind_name(alt) for alt in shape)}"
    return None if _is(value, shape) else f"{name} is {_kind(value)}, not {_kind_name(shape)}"


def _object_problem(value, shape: dict, field: str, name: str) -> str | None:
    if not isinstance(value, dict):
        return f"{name} is {_kind(value)}, not an object"
    if ... in shape:
        return next((p for k, v in value.items() if (p := problem(v, shape[...], f"{field}[{k!r}]"))), None)
    for key, sub in shape.items():
        optional, key = key.startswith("?"), key.lstrip("?")
        if key not in value:
            if optional:
                continue
            return f"{field + '.' if field else ''}{key} is missing"
        p = problem(value[key], sub, f"{field}.{key}" if field else key)
        if p:
            return p
    return None


def _is(value, kind) -> bool:
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def _kind(value) -> str:
    return "null" if value is None else {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "an integer",
                                         float: "a number"}.get(type(value), f"a {type(value).__name__}")


def _kind_name(kind) -> str:
    if kind is None:
        return "null"
    if isinstance(kind, (list, dict)):
        return "a list" if isinstance(kind, list) else "an object"
    return {str: "a string", bool: "a boolean", int: "an integer", float: "a number"}.get(kind, getattr(kind, "__name__", "valid"))


def checked(value, shape, where: str):
    """``value`` itself when it has ``shape``; else a ValueError naming ``where`` and the field."""
    p = problem(value, shape)
    if p:
        raise ValueError(f"{where}: {p}")
    return value


def sha256_hex(value) -> str | None:
    return None if isinstance(value, str) and _SHA256.fullmatch(value) else "is not a sha256 (64 lowercase hex digits)"


def http_url(value) -> str | None:
    return None if isinstance(value, str) and value.startswith(("http://", "https://")) else "is not an http(s) URL"
