"""catalog page: the catalog's answer for every torch / CUDA / Python / ABI / machine / GPU, as a static page."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from mambaenv import __version__, page
from mambaenv.catalog import load_live
from mambaenv.config import cache_dir
from mambaenv.errors import BadInput, ExitCode


@dataclass(frozen=True)
class PageRequest:
    output: str
    offline: bool = False
    jobs: int | None = None  # processes answering; None: one per core
    progress: Callable[[int, int], None] | None = field(default=None, compare=False)


@dataclass
class PageResult:
    folder: str
    files: dict[str, int]  # name -> bytes
    combinations: int
    distinct_answers: int
    seconds: float
    exit_code = ExitCode.OK

    def to_dict(self) -> dict:
        return {"folder": self.folder, "files": self.files, "combinations": self.combinations, "distinct_answers": self.distinct_answers,
                "seconds": round(self.seconds, 1), "index": str(Path(self.folder, "index.html").resolve().as_uri())}


def catalog_words(offline: bool) -> str:
    """Which catalog the answers come from, as the page says it."""
    live = {} if offline else load_live(cache_dir())
    shipped = f"the catalog shipped with mambaenv {__version__}"
    if not live.get("_fetched_at"):
        return shipped
    when = datetime.fromtimestamp(live["_fetched_at"], timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"{shipped}, with GitHub's live asset lists of {when} (mambaenv catalog refresh)"


def page_cmd(req: PageRequest) -> PageResult:
    folder = Path(req.output)
    if folder.exists() and not folder.is_dir():
        raise BadInput(f"-o {folder} is a file", "give a folder for the page (index.html and answers.json go into it)")
    if req.jobs is not None and req.jobs < 1:
        raise BadInput(f"--jobs {req.jobs}", "give 1 or more processes")
    t0 = time.monotonic()
    about = {"generated_by": f"mambaenv {__version__}", "catalog": catalog_words(req.offline)}
    jobs = req.jobs or os.cpu_count() or 1
    data = page.page_data(page.all_answers(None if req.offline else cache_dir(), req.offline, jobs, req.progress), about)
    try:
        files = page.write_page(folder, data)
    except OSError as e:
        raise BadInput(f"cannot write the page into {folder} ({e.strerror})", "give a writable folder with free space") from None
    return PageResult(str(folder), files, len(data["table"]) // len(data["packages"]), len(data["answers"]), time.monotonic() - t0)
