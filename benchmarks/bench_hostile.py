"""Hostile answers cost bounded time and memory (issue 19), each against the same command with an honest answer.

1. A package index that drips a byte every 50 ms: `resolve` and `doctor` online, wall time (target: <= 5 s each; the
   index only adds information, so its answer is marked "not checked"); the peer is the same command with an index
   that answers at once.
2. A 300 MB wheelhouse page, and one of 2,000,000 links: `resolve --wheelhouse URL`, wall time and peak RSS of the
   command (target: <= 5 s and <= 100 MB more than the same resolve without a wheelhouse). The old reader took the page
   whole: 958 MB, and 50 s / 1.6 GB for the links.
3. A 1 GiB METADATA in a 1 MB wheel: `inspect`, time and peak RSS (target: under 100 MB more than inspecting a plain
   wheel); the old reader held the METADATA whole (2-3 GB).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import report  # noqa: E402
from tests.httpserver import LoopbackServer, Route  # noqa: E402
from tests.wheels import write_wheel  # noqa: E402

STORY = ["--python", "3.8", "--torch", "2.0.0", "--torch-cuda", "11.8", "--cxx11abi", "false"]
OTHER = ["--package", "mamba_ssm", "--python", "3.11", "--torch", "2.6.0", "--torch-cuda", "12.4", "--cxx11abi", "true", "--offline"]


# The command runs under a wrapper that writes its own peak RSS (VmHWM of the exec'd process) when it ends: wait4's
# ru_maxrss would count the pages this process held at the fork (the 300 MB page the server sends from here).
_WRAPPER = ("import atexit, os, runpy, sys\n"
            "def peak():\n"
            "    hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]\n"
            "    open(os.environ['BENCH_PEAK_FILE'], 'w').write(hwm)\n"
            "atexit.register(peak)\n"
            "sys.argv = ['mambaenv'] + sys.argv[1:]\n"
            "runpy.run_module('mambaenv', run_name='__main__')\n")


def measured(args: list[str], env: dict) -> tuple[float, float, int]:
    """(wall seconds, peak RSS in MB, exit code) of ``mambaenv ARGS`` as its own process."""
    with tempfile.NamedTemporaryFile() as peak:
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", _WRAPPER, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env=dict(os.environ, BENCH_PEAK_FILE=peak.name, **env))
        seconds = time.perf_counter() - t0
        return seconds, int(Path(peak.name).read_text() or 0) / 1024, proc.returncode


def page_of(links: list[str]) -> bytes:
    return ("<html><body>" + "".join(f'<a href="{u}">{u}</a>\n' for u in links) + "</body></html>").encode()


def bench_drip(tmp: Path) -> bool:
    ok = True
    drip = b"<html><body>" + b" " * 100_000 + b"</body></html>"
    with LoopbackServer() as srv:
        for p in ("mamba-ssm", "causal-conv1d"):
            srv.add(f"/drip/{p}/", Route(body=drip, content_type="text/html", drip_s=0.05))
            srv.add(f"/fast/{p}/", Route(body=page_of([f"{p}-1.0.tar.gz"]), content_type="text/html"))
        for name, args in (("resolve", STORY), ("doctor", ["--python", sys.executable])):
            env = {"MAMBAENV_CACHE_DIR": str(tmp / "cache")}
            t_drip, _, rc = measured([name, *args, "--json"], dict(env, MAMBAENV_INDEX_URL=srv.url("/drip/")))
            t_fast, _, _ = measured([name, *args, "--json"], dict(env, MAMBAENV_INDEX_URL=srv.url("/fast/")))
            good = t_drip <= 5.0 and rc in (0, 1)
            report(f"{name} online, the package index dripping a byte per 50 ms (index marked 'not checked')", t_drip, t_fast,
                   f"{name} with an index that answers", "<= 5 s", good)
            ok &= good
    return ok


def bench_pages(tmp: Path) -> bool:
    ok = True
    big = b"<html><body>" + b"<!-- padding -->" * (300 * 1024 * 1024 // 16) + b"</body></html>"
    many = page_of([f"/f/mamba_ssm-0.{i}-py3-none-any.whl" for i in range(2_000_000)])
    env = {"MAMBAENV_CACHE_DIR": str(tmp / "cache")}
    t_peer, rss_peer, _ = measured(["resolve", *OTHER], env)
    with LoopbackServer() as srv:
        for label, body in (("a 300 MB page", big), (f"a page of 2,000,000 links ({len(many) // 2**20} MB)", many)):
            srv.add("/simple/mamba-ssm/", Route(body=body, content_type="text/html"))
            t, rss, _ = measured(["resolve", *OTHER, "--wheelhouse", srv.url("/simple/")], env)
            good = t <= 5.0 and rss - rss_peer <= 100
            report(f"resolve --wheelhouse serving {label}: peak RSS {rss:.0f} MB (without a wheelhouse {rss_peer:.0f} MB)", t, t_peer,
                   "resolve without a wheelhouse", "<= 5 s and <= 100 MB more", good)
            ok &= good
    return ok


def bench_metadata_bomb(tmp: Path) -> bool:
    bomb = tmp / "mamba_ssm-1.0+cu12torch2.6cxx11abiTRUE-cp311-cp311-linux_x86_64.whl"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("mamba_ssm-1.0.dist-info/METADATA", "w", force_zip64=True) as f:
            f.write(b"Metadata-Version: 2.1\nName: mamba_ssm\nVersion: 1.0\n")
            block = b"A" * (1 << 20)
            for _ in range(1024):
                f.write(block)
        zf.writestr("mamba_ssm-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\n")
        zf.writestr("mamba_ssm-1.0.dist-info/RECORD", "")
    (tmp / "plain").mkdir()
    plain = write_wheel(tmp / "plain", bomb.name)
    t_peer, rss_peer, _ = measured(["inspect", str(plain), "--json"], {})
    t, rss, rc = measured(["inspect", str(bomb), "--json"], {})
    good = rc == 4 and rss - rss_peer <= 100
    report(f"inspect of a {bomb.stat().st_size / 2**20:.1f} MB wheel holding a 1 GiB METADATA (refused, exit {rc}): peak RSS {rss:.0f} MB "
           f"(a plain wheel {rss_peer:.0f} MB)", t, t_peer, "inspect of a plain wheel", "<= 100 MB more", good)
    return good


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="mambaenv-bench-hostile-") as tmp:
        ok = bench_drip(Path(tmp))
        ok &= bench_pages(Path(tmp))
        ok &= bench_metadata_bomb(Path(tmp))
    print(json.dumps({"ok": ok}))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
