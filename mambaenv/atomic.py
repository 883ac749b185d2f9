"""Write a file whole or not at all, beside where it goes, without following anything planted there.

A fixed temporary name (``.NAME.part``, ``.NAME.mambaenv-tmp``) beside an output is a trap: whoever can write that folder plants a
symlink under it, and opening it for writing overwrites the link's target; two runs at once also share it.
``tempfile.mkstemp`` makes a fresh name with ``O_CREAT | O_EXCL | O_NOFOLLOW``, so the file opened is one this
process just made; ``os.replace`` then swaps it in as a directory entry, replacing a symlink at the final name
rather than writing through it. Used by download, bundle, publish, the caches and ``docker save``.
"""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator

DEFAULT_MODE = 0o644  # mkstemp makes 0600; an output is for the user's other tools (a web server, scp) to read


@contextmanager
def replaced_on_success(target: Path, mode: int = DEFAULT_MODE, durable: bool = False) -> Iterator[BinaryIO]:
    """Yield a binary file made fresh in ``target``'s folder; on a clean exit it becomes ``target``, on an error it is
    removed (a half-written output never stays behind). Its ``name`` is the temporary path, as a NamedTemporaryFile's.
    ``durable``: the bytes reach the disk before the rename (an index other machines read over NFS)."""
    target = Path(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name[:200]}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.raw.name = tmp  # fdopen names the file by its descriptor; a check of the bytes written needs the path
            yield f
            f.flush()
            if durable:
                os.fsync(f.fileno())
            os.fchmod(f.fileno(), mode)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes(target: Path, data: bytes, mode: int = DEFAULT_MODE, durable: bool = False) -> None:
    """``target`` holds ``data`` whole, or keeps what it held."""
    with replaced_on_success(target, mode, durable) as f:
        f.write(data)
