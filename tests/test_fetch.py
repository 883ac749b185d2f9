"""Downloads against a real HTTP server on 127.0.0.1 with injected faults."""
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mambaenv.errors import DownloadError
from mambaenv.fetch import Downloader
from mambaenv.wheel import verify_wheel_file
from tests.conftest import run_cli
from tests.httpserver import LoopbackServer, Route, sha256
from tests.wheels import wheel_bytes

NAME = "mamba_ssm-2.2.2+cu118torch2.0cxx11abiFALSE-cp38-cp38-linux_x86_64.whl"
BIG = wheel_bytes("mamba_ssm", "2.2.2", payload_size=12 * 1024 * 1024)
SMALL = wheel_bytes("mamba_ssm", "2.2.2", payload_size=200 * 1024)


def fast_downloader(cache, **kw):
    kw.setdefault("timeouts", (2, 2))
    return Downloader(cache, **kw)


def no_partials(cache: Path) -> bool:
    return not any((cache / "partial").glob("*.part"))


def blobs(cache: Path):
    return sorted((cache / "blobs").rglob("*.whl"))


@pytest.fixture
def srv():
    with LoopbackServer() as s:
        yield s


def fetch(srv, cache, route, **kw):
    srv.add("/" + NAME, route)
    return fast_downloader(cache).fetch(srv.url("/" + NAME), verify=verify_wheel_file, **kw)


def test_parallel_segments_give_the_exact_bytes(srv, tmp_path):
    got = fetch(srv, tmp_path, Route(body=BIG), sha256=sha256(BIG))
    assert got.path.read_bytes() == BIG and got.sha256 == sha256(BIG)
    ranges = [h.get("Range") for m, _, h in srv.requests if h.get("Range") and h["Range"] != "bytes=0-0"]
    assert len(ranges) >= 3  # several segments in parallel
    assert no_partials(tmp_path)


def test_truncated_body_is_resumed_and_verified(srv, tmp_path):
    route = Route(body=BIG, truncate_at=700_000, fault_times=3)
    got = fetch(srv, tmp_path, route, sha256=sha256(BIG))
    assert got.path.read_bytes() == BIG and no_partials(tmp_path)
    assert route.faults_done == 3  # the server did cut three bodies short


def test_connection_reset_mid_body_is_resumed(srv, tmp_path):
    route = Route(body=BIG, reset_at=300_000, fault_times=2)
    got = fetch(srv, tmp_path, route)
    assert got.path.read_bytes() == BIG and route.faults_done == 2
    assert got.sha256 == sha256(BIG)  # taken while the segments arrived, retried ones included


def test_503_then_success(srv, tmp_path):
    route = Route(body=SMALL, fail_first=2)
    got = fetch(srv, tmp_path, route)
    assert got.path.read_bytes() == SMALL and route.faults_done == 2 and route.hits >= 3


def test_slow_server_times_out_then_succeeds(srv, tmp_path):
    route = Route(body=SMALL, delay_s=3, delay_times=1)  # first answer slower than the 2 s read timeout
    got = fetch(srv, tmp_path, route)
    assert got.path.read_bytes() == SMALL and route.faults_done == 1 and route.hits >= 2  # timed out, asked again


def test_wrong_bytes_fail_the_sha256_check_and_leave_nothing(srv, tmp_path):
    with pytest.raises(DownloadError, match="sha256 mismatch"):
        fetch(srv, tmp_path, Route(body=SMALL), sha256="0" * 64)
    assert blobs(tmp_path) == [] and no_partials(tmp_path)


def test_an_html_page_served_as_200_is_refused(srv, tmp_path):
    page = b"<!DOCTYPE html><html><body>Please log in to the proxy</body></html>"
    with pytest.raises(DownloadError, match="HTML page"):
        fetch(srv, tmp_path, Route(body=page, content_type="text/html", ranges=False))
    assert blobs(tmp_path) == [] and no_partials(tmp_path)


def test_a_corrupt_wheel_never_enters_the_cache(srv, tmp_path):
    with pytest.raises(DownloadError, match="not a whole wheel"):
        fetch(srv, tmp_path, Route(body=SMALL[: len(SMALL) // 2]))
    assert blobs(tmp_path) == [] and no_partials(tmp_path)


def test_server_without_range_support_uses_one_stream(srv, tmp_path):
    got = fetch(srv, tmp_path, Route(body=BIG, ranges=False))
    assert got.path.read_bytes() == BIG
    assert not any(h.get("Range", "").startswith("bytes=") and h["Range"] != "bytes=0-0" for _, _, h in srv.requests)


def test_server_without_range_that_cuts_off_restarts_and_finishes(srv, tmp_path):
    route = Route(body=SMALL, ranges=False, truncate_at=50_000, fault_times=1)
    got = fetch(srv, tmp_path, route)
    assert got.path.read_bytes() == SMALL and route.faults_done == 1


def test_redirect_to_another_loopback_port(tmp_path):
    with LoopbackServer() as storage, LoopbackServer() as front:
        storage.add("/blob", Route(body=BIG))
        front.add("/" + NAME, Route(redirect_to=storage.url("/blob")))
        got = fast_downloader(tmp_path).fetch(front.url("/" + NAME), verify=verify_wheel_file)
    assert got.path.read_bytes() == BIG and got.path.name == NAME


def test_a_dead_mirror_falls_back_to_the_next_source(srv, tmp_path):
    srv.add("/" + NAME, Route(body=SMALL))
    got = fast_downloader(tmp_path, retries=1).fetch(srv.url("/" + NAME), mirrors=[srv.url("/mirror-down")], verify=verify_wheel_file)
    assert got.path.read_bytes() == SMALL and got.url == srv.url("/" + NAME)


def test_a_mirror_prefix_is_tried_first(srv, tmp_path):
    original = "https://github.com/state-spaces/mamba/releases/download/v2.2.2/" + NAME
    srv.add("/gh/" + original, Route(body=SMALL))
    got = fast_downloader(tmp_path).fetch(original, mirrors=[srv.url("/gh/")], verify=verify_wheel_file)
    assert got.url.startswith(srv.base) and got.path.read_bytes() == SMALL


def test_a_cached_file_is_not_fetched_again(srv, tmp_path):
    route = Route(body=SMALL)
    fetch(srv, tmp_path, route)
    hits = route.hits
    again = fast_downloader(tmp_path).fetch(srv.url("/" + NAME))
    assert again.from_cache and route.hits == hits


def test_two_concurrent_downloads_make_one_transfer(srv, tmp_path):
    route = srv.add("/" + NAME, Route(body=BIG, rate_bps=8 * 1024 * 1024))
    out = [None, None]

    def go(i):
        out[i] = fast_downloader(tmp_path).fetch(srv.url("/" + NAME))

    threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out[0].path == out[1].path and out[0].path.read_bytes() == BIG
    assert route.bytes_sent <= len(BIG) + 2 * 65536


def kill_download_at(route, url, cache, fraction):
    """Start a download in another process and SIGKILL it once the server has sent ``fraction`` of the file."""
    code = f"from mambaenv.fetch import Downloader; Downloader({str(cache)!r}, segments=4).fetch({url!r})"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while route.bytes_sent < len(route.body) * fraction and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return route.bytes_sent


def test_a_killed_download_resumes_where_it_stopped(srv, tmp_path):
    route = srv.add("/" + NAME, Route(body=BIG, rate_bps=2 * 1024 * 1024))
    first = kill_download_at(route, srv.url("/" + NAME), tmp_path, 0.5)
    assert first < len(BIG)
    route.rate_bps = None
    got = fast_downloader(tmp_path, segments=4).fetch(srv.url("/" + NAME))
    assert got.path.read_bytes() == BIG and got.sha256 == sha256(BIG)  # the first run's bytes are hashed too
    assert route.bytes_sent - first <= 0.6 * len(BIG)


def test_a_changed_file_on_the_server_restarts_the_download(srv, tmp_path):
    route = srv.add("/" + NAME, Route(body=BIG, etag='"v1"', rate_bps=2 * 1024 * 1024))
    kill_download_at(route, srv.url("/" + NAME), tmp_path, 1 / 3)
    assert list((tmp_path / "partial").glob("*.json"))  # the first run did leave progress to (wrongly) resume
    new = wheel_bytes("mamba_ssm", "2.2.2", payload_size=12 * 1024 * 1024)
    route.body, route.etag, route.rate_bps = new, '"v2"', None
    got = fast_downloader(tmp_path, segments=4).fetch(srv.url("/" + NAME))
    assert got.path.read_bytes() == new and got.sha256 == sha256(new)


def test_download_cli_decodes_the_plus_and_places_the_file(srv, tmp_path):
    srv.add("/dl/" + NAME.replace("+", "%2B"), Route(body=SMALL))
    dest = tmp_path / "dest"
    out = run_cli("download", "--url", srv.url("/dl/" + NAME.replace("+", "%2B")), "--dest", str(dest), "--json")
    assert out.returncode == 0, out.stderr
    files = json.loads(out.stdout)["files"]
    assert Path(files[0]["file"]) == dest / NAME and (dest / NAME).read_bytes() == SMALL
    assert files[0]["sha256"] == sha256(SMALL)


def test_download_cli_failure_is_one_line_with_the_fix_for_its_cause(srv, tmp_path):
    srv.add("/" + NAME, Route(status=404, body=b"no"))
    out = run_cli("download", "--url", srv.url("/" + NAME), "--dest", str(tmp_path))
    assert out.returncode == 3
    lines = out.stderr.strip().splitlines()
    # a 404 is no network problem: the advice is about the URL or the mirror, not the proxy
    assert len(lines) == 1 and "HTTP 404 (no such file there)" in lines[0] and "check the URL" in lines[0] and "HTTPS_PROXY" not in lines[0]
    assert not list(tmp_path.glob("*.whl"))


def test_https_proxy_style_settings_are_honoured(tmp_path, monkeypatch):
    """A proxy on 127.0.0.1 serves a URL whose host (127.0.0.2, nothing listening) is reachable only through it."""
    with LoopbackServer() as proxy:
        target = "http://127.0.0.2:9/" + NAME
        proxy.add(target, Route(body=SMALL))
        monkeypatch.setenv("HTTP_PROXY", proxy.base)
        monkeypatch.setenv("NO_PROXY", "")
        monkeypatch.delenv("no_proxy", raising=False)
        got = fast_downloader(tmp_path).fetch(target, verify=verify_wheel_file)
    assert got.path.read_bytes() == SMALL
    assert any(p == target for _, p, _ in proxy.requests)


def test_a_large_file_starts_on_sixteen_connections_and_a_small_one_on_one_per_piece(srv, tmp_path):
    """Nothing is known of the rate before the first bytes: a file of 16+ pieces of 2 MiB opens 16 connections at once
    (as aria2c -x16 does), a 5 MiB file two, and the measured rate (not a fixed number) decides the rest."""
    big = wheel_bytes("mamba_ssm", "2.2.2", payload_size=40 * 1024 * 1024)
    route = srv.add("/big/" + NAME, Route(body=big, rate_bps=4 * 1024 * 1024))  # pieces take 0.6 s: all 16 overlap
    got = Downloader(tmp_path / "a", segments=None, timeouts=(2, 5)).fetch(srv.url("/big/" + NAME))
    assert got.sha256 == sha256(big) and route.max_active == 16
    small = wheel_bytes("mamba_ssm", "2.2.2", payload_size=5 * 1024 * 1024)
    route = srv.add("/small/" + NAME, Route(body=small, rate_bps=8 * 1024 * 1024))
    got = Downloader(tmp_path / "b", segments=None, timeouts=(2, 5)).fetch(srv.url("/small/" + NAME))
    assert got.sha256 == sha256(small) and route.max_active == 2


def test_a_server_that_limits_connections_per_client_gets_that_many_and_the_download_finishes(srv, tmp_path):
    """503 for a connection beyond the server's per-client limit: the refused segment waits for a free connection and
    the count drops to what the server takes, instead of retrying until the whole download fails."""
    route = srv.add("/" + NAME, Route(body=BIG, rate_bps=4 * 1024 * 1024, max_concurrent=3))
    # one retry: a refusal must not use up a budget meant for failures (the transfer outlasts any such budget)
    got = Downloader(tmp_path, segments=None, retries=1, timeouts=(2, 5)).fetch(srv.url("/" + NAME))
    assert got.sha256 == sha256(BIG) and got.path.read_bytes() == BIG
    assert route.refused >= 1 and route.max_active == 3  # the server did refuse, and was never asked for more at once


def test_a_passing_overload_does_not_leave_the_download_on_few_connections(srv, tmp_path):
    """Refusals lower the connection count; once the server stops refusing, the count climbs back (doubling after
    each quiet half second), instead of staying at what a moment of overload allowed."""
    big = wheel_bytes("mamba_ssm", "2.2.2", payload_size=40 * 1024 * 1024)
    route = srv.add("/" + NAME, Route(body=big, rate_bps=4 * 1024 * 1024, max_concurrent=2))

    def lift():
        time.sleep(0.4)
        with srv.lock:
            route.max_concurrent, route.max_active = None, route.active

    threading.Thread(target=lift, daemon=True).start()
    got = Downloader(tmp_path, segments=None, retries=1, timeouts=(2, 5)).fetch(srv.url("/" + NAME))
    assert got.sha256 == sha256(big) and route.refused >= 1
    assert route.max_active >= 8  # after the overload passed, the download spread out again
