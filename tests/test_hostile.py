"""Hostile input and faults: names that try to escape, lying servers, broken files, full disks, two installs at once.

Everything runs against the loopback server (which counts its hits and the faults it injected), real
processes and real venvs. Each test says what the user sees (exit code, one line naming the problem)
and, walking the temp tree, that nothing was written outside the places the user named.
"""
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest

from mambaenv.errors import DownloadError
from mambaenv.fetch import Downloader
from mambaenv.wheel import verify_wheel_file
from tests.conftest import run_cli
from tests.fixture_builders import FIXTURE_LOCAL
from tests.holds import asked_again, caught_up, saved_progress, saved_segments, wait_until
from tests.httpserver import LoopbackServer, Route, sha256
from tests.wheels import wheel_bytes, write_wheel

NAME = "mamba_ssm-2.2.2+cu118torch2.0cxx11abiFALSE-cp38-cp38-linux_x86_64.whl"
SMALL = wheel_bytes("mamba_ssm", "2.2.2", payload_size=200 * 1024)
BIG = wheel_bytes("mamba_ssm", "2.2.2", payload_size=12 * 1024 * 1024)
SEAM = {"MAMBAENV_ASSUME_TORCH_CUDA": "12.8"}


@pytest.fixture
def srv():
    with LoopbackServer() as s:
        yield s


def files_under(root: Path) -> set[Path]:
    return {p for p in Path(root).rglob("*") if p.is_file() or p.is_symlink()}


def written_outside(root: Path, before: set[Path], *allowed: Path) -> list[Path]:
    """Files that appeared under ``root`` outside every ``allowed`` folder since ``before`` was taken."""
    allowed = [Path(a).resolve() for a in allowed]
    new = files_under(root) - before
    return sorted(p for p in new if not any(p.resolve().is_relative_to(a) for a in allowed))


def one_line(out) -> str:
    lines = [line for line in out.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, out.stderr
    assert "Traceback" not in out.stderr
    return lines[0]


def dl(cache, **kw):
    kw.setdefault("timeouts", (2, 2))
    return Downloader(cache, **kw)


# --- 1. a download can write anywhere -----------------------------------------------------------------

@pytest.mark.parametrize("evil", [
    lambda tmp: quote(str(tmp / "outside" / "pwned.whl"), safe=""),  # %2Ftmp%2F...%2Fpwned.whl: an absolute path
    lambda tmp: "..%2F..%2Foutside%2Fpwned.whl",  # relative to the cache or --dest
    lambda tmp: ".bashrc",  # a hidden file, and not a wheel
    lambda tmp: "evil.sh",  # not a wheel: nothing would check it
])
def test_a_url_whose_last_segment_is_not_one_plain_wheel_name_is_refused(srv, tmp_path, evil):
    (tmp_path / "outside").mkdir()
    segment = evil(tmp_path)
    route = srv.add("/x/" + segment, Route(body=SMALL))
    dest = tmp_path / "a" / "b"
    before = files_under(tmp_path)
    out = run_cli("download", "--url", srv.url("/x/" + segment), "--dest", str(dest))
    assert out.returncode == 2
    line = one_line(out)
    assert "one plain path component" in line or "does not name a wheel" in line
    assert route.hits == 0  # refused before any request
    assert written_outside(tmp_path, before, tmp_path / "mambaenv-cache", dest) == []
    assert not (tmp_path / "outside" / "pwned.whl").exists() and not list(tmp_path.rglob("pwned*"))


def test_a_name_given_to_the_downloader_is_checked_too(srv, tmp_path):
    srv.add("/" + NAME, Route(body=SMALL))
    with pytest.raises(Exception, match="one plain path component"):
        dl(tmp_path / "c").fetch(srv.url("/" + NAME), name="../../escape.whl")
    assert not (tmp_path / "escape.whl").exists()


# --- 2. a bundle member escapes -------------------------------------------------------------------------

def make_bundle(path: Path, members: dict, manifest=None, extra=None, mode="w"):
    """A tar bundle with ``members`` (name -> bytes); the manifest lists them unless given."""
    if manifest is None:
        manifest = {"schema": 1, "packages": [n for n in members if n.endswith(".whl")],
                    "files": [{"name": n, "size": len(b), "sha256": sha256(b)} for n, b in members.items()]}
    with tarfile.open(path, mode) as tf:
        for name, data in list(members.items()) + [("mambaenv-bundle.json", json.dumps(manifest).encode())]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for info in extra or []:
            tf.addfile(info, io.BytesIO(b"x" * info.size) if info.isreg() else None)
    return path


def _member(name, kind=tarfile.REGTYPE, link="", size=0):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, link, size
    return info


@pytest.mark.parametrize("member", [
    _member("./../../escaped.txt", size=4),
    _member("../escaped.txt", size=4),
    _member("/tmp/mambaenv-hostile-abs.txt", size=4),
    _member("sub/inner.txt", size=4),
    _member("link.whl", tarfile.SYMTYPE, "/etc/passwd"),
    _member("hard.whl", tarfile.LNKTYPE, "/etc/passwd"),
    _member("dev", tarfile.CHRTYPE),
])
def test_a_bundle_with_an_escaping_or_special_member_is_refused_before_anything_is_written(tmp_path, member):
    wheel = wheel_bytes("causal_conv1d", "1.0")
    (tmp_path / "in").mkdir()
    bundle = make_bundle(tmp_path / "in" / "b.tar", {f"causal_conv1d-1.0+{FIXTURE_LOCAL}-cp311-cp311-linux_x86_64.whl": wheel},
                         extra=[member])
    work = tmp_path / "work" / "deep" / "er"
    work.mkdir(parents=True)
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    before = files_under(tmp_path)
    out = run_cli("install", "--offline-wheel", str(bundle), "--new-env", str(tmp_path / "env"), "--venv", env=dict(SEAM, TMPDIR=str(tmpdir)))
    assert out.returncode == 2
    assert "unexpected entry" in one_line(out)
    assert not (tmp_path / "env").exists()
    assert written_outside(tmp_path, before, tmp_path / "mambaenv-cache") == []
    assert not Path("/tmp/mambaenv-hostile-abs.txt").exists() and not list(tmp_path.rglob("escaped.txt"))


def test_docker_build_refuses_the_same_bundle_before_docker_is_asked(tmp_path):
    bundle = make_bundle(tmp_path / "b.tar", {"x.whl": b"x"}, extra=[_member("./../../escaped.txt", size=4)])
    out = run_cli("docker", "build", "--bundle", str(bundle), "--base-image", "mambaenv-none:x", "--network", "none")
    assert out.returncode == 2 and "unexpected entry" in one_line(out)
    assert not list(tmp_path.rglob("escaped.txt"))


@pytest.mark.parametrize("case,words", [
    ("truncated", "truncated or damaged"),
    ("no-files", "without a valid 'files' list"),
    ("list", "without a valid 'files' list"),
    ("abs-package", "names a package"),
    ("wrong-size", "its mambaenv-bundle.json says"),
    ("unlisted", "does not list"),
    ("wrong-sha", "corrupt"),
])
def test_a_broken_or_lying_bundle_is_one_line(tmp_path, case, words):
    name = f"causal_conv1d-1.0+{FIXTURE_LOCAL}-cp311-cp311-linux_x86_64.whl"
    wheel = wheel_bytes("causal_conv1d", "1.0")
    good = {"schema": 1, "packages": [name], "files": [{"name": name, "size": len(wheel), "sha256": sha256(wheel)}]}
    manifest = {
        "no-files": {"schema": 1, "packages": [name]},
        "list": [name],
        "abs-package": dict(good, packages=[str(tmp_path / "elsewhere.whl")]),
        "wrong-size": dict(good, files=[dict(good["files"][0], size=10)]),
        "wrong-sha": dict(good, files=[dict(good["files"][0], sha256="0" * 64)]),
    }.get(case, good)
    bundle = make_bundle(tmp_path / "b.tar", {name: wheel}, manifest=manifest,
                         extra=[_member("extra.whl", size=4)] if case == "unlisted" else None)
    if case == "truncated":  # cut inside the manifest's data
        with tarfile.open(bundle) as tf:
            cut = tf.getmember("mambaenv-bundle.json").offset_data + 10
        bundle.write_bytes(bundle.read_bytes()[:cut])
    (tmp_path / "elsewhere.whl").write_bytes(wheel)  # what an absolute package path would have pulled in
    out = run_cli("install", "--offline-wheel", str(bundle), "--new-env", str(tmp_path / "env"), "--venv", env=SEAM)
    assert out.returncode == 2, out.stderr
    assert words in one_line(out)
    assert not (tmp_path / "env").exists()


def test_a_gzip_bomb_is_refused_from_its_headers_without_extracting(tmp_path):
    """64 MiB of zeros compress to ~64 kB; the manifest claims 1 kB: refused, and the unpack folder stays empty."""
    name = f"causal_conv1d-1.0+{FIXTURE_LOCAL}-cp311-cp311-linux_x86_64.whl"
    big = b"\0" * (64 * 1024 * 1024)
    manifest = {"schema": 1, "packages": [name], "files": [{"name": name, "size": 1000, "sha256": sha256(b"")}]}
    bundle = make_bundle(tmp_path / "b.tar.gz", {name: big}, manifest=manifest, mode="w:gz")
    assert bundle.stat().st_size < 1024 * 1024
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    out = run_cli("install", "--offline-wheel", str(bundle), "--new-env", str(tmp_path / "env"), "--venv", env=dict(SEAM, TMPDIR=str(tmpdir)))
    assert out.returncode == 2 and "its mambaenv-bundle.json says 1000" in one_line(out)
    assert sum(p.stat().st_size for p in files_under(tmpdir)) == 0


@contextmanager
def small_tmpfs(path: Path, size: str):
    """A real small filesystem (root only): a disk that fills up."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                                           capture_output=True).returncode != 0:
        pytest.skip("needs root to mount a small tmpfs")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_a_bundle_bigger_than_the_free_space_is_refused_before_extracting(tmp_path):
    name = f"causal_conv1d-1.0+{FIXTURE_LOCAL}-cp311-cp311-linux_x86_64.whl"
    data = os.urandom(3 * 1024 * 1024)
    bundle = make_bundle(tmp_path / "b.tar", {name: data})
    with small_tmpfs(tmp_path / "tiny", "2m") as tiny:
        out = run_cli("install", "--offline-wheel", str(bundle), "--new-env", str(tmp_path / "env"), "--venv", env=dict(SEAM, TMPDIR=str(tiny)))
        assert out.returncode == 2 and "free" in one_line(out)
        assert files_under(tiny) == set()


# --- 3. torch replaced ------------------------------------------------------------------------------

def make_torch_env(prefix: Path, form: str) -> Path:
    """A real venv whose torch 2.13.0 is recorded as ``form``: egg-info folder, egg-info file, or only torch/version.py."""
    from uv import find_uv_bin

    subprocess.run([find_uv_bin(), "venv", "-q", "--python", sys.executable, str(prefix)], check=True)
    site = next((prefix / "lib").glob("python*/site-packages"))
    (site / "torch").mkdir()
    (site / "torch" / "__init__.py").write_text("from torch.version import __version__\n")
    (site / "torch" / "version.py").write_text("__version__ = '2.13.0'\ncuda = None\nhip = None\n")
    pkg_info = "Metadata-Version: 1.1\nName: torch\nVersion: 2.13.0\nSummary: a setup.py build\n\n"
    if form == "egg-info-dir":
        (site / "torch-2.13.0-py3.11.egg-info").mkdir()
        (site / "torch-2.13.0-py3.11.egg-info" / "PKG-INFO").write_text(pkg_info)
        (site / "torch-2.13.0-py3.11.egg-info" / "top_level.txt").write_text("torch\n")
    elif form == "egg-info-file":
        (site / "torch-2.13.0-py3.11.egg-info").write_text(pkg_info)
    return prefix / "bin" / "python"


def torch_state(python: Path) -> str:
    site = next((python.parent.parent / "lib").glob("python*/site-packages"))
    return (site / "torch" / "version.py").read_text() + "|" + ",".join(sorted(p.name for p in site.iterdir() if p.name.startswith("torch")))


@pytest.mark.parametrize("form", ["egg-info-dir", "egg-info-file", "version-py-only"])
def test_torch_without_dist_info_is_seen_pinned_and_never_replaced(tmp_path, form):
    py = make_torch_env(tmp_path / "env", form)
    probe = json.loads(subprocess.run([str(py), "mambaenv/detect/probe_script.py"], capture_output=True, text=True, check=True,
                                      cwd=Path(__file__).resolve().parent.parent).stdout)
    assert probe["packages"]["torch"]["version"] == "2.13.0"
    links = tmp_path / "links"
    links.mkdir()
    write_wheel(links, "torch-9.0.0-py3-none-any.whl")  # a newer torch that pip/uv would happily take
    wheel = write_wheel(tmp_path, f"causal_conv1d-9.9.9+{FIXTURE_LOCAL}-cp311-cp311-linux_x86_64.whl", requires=["torch>=9"])
    before = torch_state(py)
    out = run_cli("install", "--offline-wheel", str(wheel), "--python", str(py), "--find-links", str(links), env=SEAM)
    assert out.returncode == 5, out.stderr
    assert "the install failed" in out.stderr and "rolled back" in out.stderr
    assert torch_state(py) == before


def test_an_egg_info_torch_env_still_gets_a_fitting_wheel_and_keeps_torch(tmp_path):
    py = make_torch_env(tmp_path / "env", "egg-info-dir")
    wheel = write_wheel(tmp_path, f"causal_conv1d-1.0+{FIXTURE_LOCAL}-cp311-cp311-linux_x86_64.whl")
    before = torch_state(py)
    out = run_cli("install", "--offline-wheel", str(wheel), "--python", str(py), "--json", env=SEAM)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["torch"] == "2.13.0" and torch_state(py) == before


# --- 4. two installs into one env ---------------------------------------------------------------------

def test_an_install_waits_for_the_env_lock_and_the_record_keeps_both_installs(tmp_path):
    from filelock import FileLock

    py = make_torch_env(tmp_path / "env", "egg-info-dir")
    site = next((tmp_path / "env" / "lib").glob("python*/site-packages"))
    first = write_wheel(tmp_path, f"causal_conv1d-1.0+{FIXTURE_LOCAL}-cp311-cp311-linux_x86_64.whl")
    second = write_wheel(tmp_path, f"mamba_ssm-1.0+{FIXTURE_LOCAL}-cp311-cp311-linux_x86_64.whl")
    assert run_cli("install", "--offline-wheel", str(first), "--python", str(py), env=SEAM).returncode == 0
    lock = FileLock(str(site / ".mambaenv-install.lock"))
    lock.acquire()  # another install is in its check-install-verify-rollback
    try:
        proc = subprocess.Popen([sys.executable, "-m", "mambaenv", "install", "--offline-wheel", str(second), "--python", str(py), "--json"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ, **SEAM))
        time.sleep(4)
        assert proc.poll() is None  # still waiting
        assert not list(site.glob("mamba_ssm*"))
    finally:
        lock.release()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    record = json.loads((site / "mambaenv-installed.json").read_text())
    assert {w.split("-")[0] for w in record["wheels"]} == {"causal_conv1d", "mamba_ssm"}


def test_a_failing_install_running_beside_a_good_one_never_removes_the_good_ones_packages(tmp_path):
    py = make_torch_env(tmp_path / "env", "egg-info-dir")
    site = next((tmp_path / "env" / "lib").glob("python*/site-packages"))
    links = tmp_path / "links"
    links.mkdir()
    write_wheel(links, "torch-9.0.0-py3-none-any.whl")
    good = write_wheel(tmp_path, f"causal_conv1d-1.0+{FIXTURE_LOCAL}-cp311-cp311-linux_x86_64.whl")
    bad = write_wheel(tmp_path / "links", f"mamba_ssm-9.9.9+{FIXTURE_LOCAL}-cp311-cp311-linux_x86_64.whl", requires=["torch>=9"])
    env = dict(os.environ, **SEAM)
    procs = [subprocess.Popen([sys.executable, "-m", "mambaenv", "install", "--offline-wheel", str(w), "--python", str(py),
                               "--find-links", str(links)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for w in (bad, good)]
    codes = [p.wait(timeout=180) for p in procs]
    assert codes == [5, 0]
    assert list(site.glob("causal_conv1d-1.0*.dist-info"))


# --- 5. the cache vouches only for bytes it hashed -----------------------------------------------------

def test_a_placed_file_edited_in_place_is_not_vouched_for(srv, tmp_path):
    route = srv.add("/" + NAME, Route(body=SMALL))
    dest = tmp_path / "dest"
    first = run_cli("download", "--url", srv.url("/" + NAME), "--dest", str(dest), "--json")
    assert first.returncode == 0, first.stderr
    placed = dest / NAME
    assert placed.stat().st_nlink == 1  # a copy, not a hard link into the cache
    with open(placed, "r+b") as f:  # edited in place
        f.seek(1000)
        f.write(b"tampered")
    again = run_cli("download", "--url", srv.url("/" + NAME), "--dest", str(dest), "--json")
    res = json.loads(again.stdout)["files"][0]
    assert res["from_cache"] and res["sha256"] == sha256(SMALL) and placed.read_bytes() == SMALL
    assert sorted(p.name for p in dest.iterdir()) == [NAME]  # no hidden .NAME.mambaenv-tmp left behind
    assert route.hits == 2  # probe + one segment, once


def test_a_cache_blob_edited_in_place_is_evicted_and_fetched_again(srv, tmp_path):
    route = srv.add("/" + NAME, Route(body=SMALL))
    cache = tmp_path / "c"
    got = dl(cache).fetch(srv.url("/" + NAME), verify=verify_wheel_file)
    with open(got.path, "r+b") as f:
        f.seek(1000)
        f.write(b"tampered")
    hits = route.hits
    again = dl(cache).fetch(srv.url("/" + NAME), verify=verify_wheel_file)
    assert not again.from_cache and again.sha256 == sha256(SMALL) and again.path.read_bytes() == SMALL
    assert route.hits > hits


def test_a_mirror_is_recorded_as_the_source_of_cached_bytes(srv, tmp_path):
    original = "https://github.com/state-spaces/mamba/releases/download/v2.2.2/" + NAME
    srv.add("/gh/" + original, Route(body=SMALL))
    got = dl(tmp_path).fetch(original, mirrors=[srv.url("/gh/")], verify=verify_wheel_file)
    hit = dl(tmp_path).fetch(original, verify=verify_wheel_file)
    assert hit.from_cache and got.url.startswith(srv.base) and hit.url == got.url


# --- faults -------------------------------------------------------------------------------------------

def test_a_full_disk_fails_at_once_in_one_line_and_a_rerun_resumes(srv, tmp_path):
    route = srv.add("/" + NAME, Route(body=BIG))
    with small_tmpfs(tmp_path / "tiny", "4m") as tiny:
        out = run_cli("download", "--url", srv.url("/" + NAME), "--dest", str(tmp_path / "d"), env={"MAMBAENV_CACHE_DIR": str(tiny)})
        assert out.returncode == 3 and "free" in one_line(out)
        assert route.bytes_sent < 64 * 1024  # nothing but the probe was fetched
    out = run_cli("download", "--url", srv.url("/" + NAME), "--dest", str(tmp_path / "d"))
    assert out.returncode == 0 and (tmp_path / "d" / NAME).read_bytes() == BIG


def test_a_disk_that_fills_up_mid_transfer_is_one_line_and_the_rerun_resumes(srv, tmp_path):
    """The server stops at a quarter of the file (a count it controls) until the disk has been filled, so the
    transfer is always cut at the same place, whatever the machine's load."""
    route = srv.add("/" + NAME, Route(body=BIG, hold_at=0.25))
    with small_tmpfs(tmp_path / "tiny", "32m") as tiny:
        env = dict(os.environ, MAMBAENV_CACHE_DIR=str(tiny))
        args = [sys.executable, "-m", "mambaenv", "download", "--url", srv.url("/" + NAME), "--dest", str(tmp_path / "d"), "--segments", "4"]
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        try:
            wait_until("the client save what the server sent", lambda: caught_up(route, tiny), proc,
                       state=lambda: f"held {route.held} of {route.active}, sent {route.bytes_sent}, saved {saved_progress(tiny)}")
            saved = saved_progress(tiny)
            hog = tiny / "hog"
            with open(hog, "wb") as f:  # someone else fills the disk while the download waits for the server
                try:
                    while True:
                        f.write(b"\0" * (64 * 1024))
                        f.flush()
                except OSError:
                    pass
        finally:
            route.release.set()
        _, err = proc.communicate(timeout=120)
        assert route.faults_done >= 4  # each of the four connections was cut at its quarter
        assert proc.returncode == 3 and "no space left" in one_line(subprocess.CompletedProcess(args, proc.returncode, "", err))
        hog.unlink()
        segments, asked_before = saved_segments(tiny), len(srv.requests)
        assert sum(done for _s, _e, done in segments) >= saved
        out = run_cli(*args[3:], env={"MAMBAENV_CACHE_DIR": str(tiny)})
        assert out.returncode == 0, out.stderr
        assert (tmp_path / "d" / NAME).read_bytes() == BIG
        assert asked_again(srv.requests[asked_before:], segments) == []  # resumed where it was cut, not started again


def test_a_dest_that_fills_up_leaves_no_partial_file(srv, tmp_path):
    srv.add("/" + NAME, Route(body=BIG))
    with small_tmpfs(tmp_path / "tiny", "4m") as tiny:
        out = run_cli("download", "--url", srv.url("/" + NAME), "--dest", str(tiny))
        assert out.returncode != 0 and "No space left" in one_line(out)
        assert list(tiny.iterdir()) == []


def test_a_size_beyond_the_catalog_size_is_refused_before_the_body(srv, tmp_path):
    route = srv.add("/" + NAME, Route(body=BIG))
    with pytest.raises(DownloadError, match="the catalog says"):
        dl(tmp_path).fetch(srv.url("/" + NAME), size=len(SMALL))
    assert route.bytes_sent < 64 * 1024


def test_a_content_length_larger_than_the_body_costs_one_copy(srv, tmp_path):
    route = srv.add("/" + NAME, Route(body=BIG, ranges=False, content_length_extra=10_000_000))
    got = dl(tmp_path).fetch(srv.url("/" + NAME), verify=verify_wheel_file)
    assert got.path.read_bytes() == BIG
    # one copy: the probe's answer is the stream, and its short body is judged, not fetched again (the old way: 7 copies)
    assert route.faults_done == 1 and route.hits == 1 and route.bytes_sent <= 1.05 * len(BIG)


def test_a_wrong_content_range_is_not_trusted(srv, tmp_path):
    route = srv.add("/" + NAME, Route(body=BIG, wrong_content_range=True))
    got = dl(tmp_path).fetch(srv.url("/" + NAME))  # no sha256, no wheel check: the bytes must be right by themselves
    assert route.faults_done >= 1 and got.path.read_bytes() == BIG and got.sha256 == sha256(BIG)


def test_range_honoured_only_for_the_probe_falls_back_to_one_stream(srv, tmp_path):
    route = srv.add("/" + NAME, Route(body=BIG, range_probe_only=True))
    got = dl(tmp_path).fetch(srv.url("/" + NAME))
    assert route.faults_done >= 1 and got.path.read_bytes() == BIG


def kill_at(route, code, fraction, sig=signal.SIGKILL, cli=False, env=None):
    args = [sys.executable, "-m", "mambaenv", *code] if cli else [sys.executable, "-c", code]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=dict(os.environ, **(env or {})))
    deadline = time.time() + 30
    while route.bytes_sent < len(route.body) * fraction and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    return proc.returncode, err, route.bytes_sent


def test_a_server_without_validators_that_changed_the_file_gives_no_spliced_file(srv, tmp_path):
    route = srv.add("/" + NAME, Route(body=BIG, rate_bps=2 * 1024 * 1024))
    code = f"from mambaenv.fetch import Downloader; Downloader({str(tmp_path)!r}, segments=4).fetch({srv.url('/' + NAME)!r})"
    kill_at(route, code, 1 / 3)
    new = wheel_bytes("mamba_ssm", "2.2.2", payload_size=12 * 1024 * 1024)
    assert len(new) == len(BIG) and not route.etag and not route.last_modified
    route.body, route.rate_bps = new, None
    got = dl(tmp_path, segments=4).fetch(srv.url("/" + NAME))  # no sha256, no wheel check
    assert got.path.read_bytes() == new


def test_ctrl_c_saves_progress_and_the_rerun_fetches_at_most_60_percent(srv, tmp_path):
    """Ctrl-C arrives while the server holds at half the file (a count it controls) and the client has recorded what
    it received: the rerun moves the other half, whatever the machine's load."""
    body = wheel_bytes("mamba_ssm", "2.2.2", payload_size=24 * 1024 * 1024)
    route = srv.add("/" + NAME, Route(body=body, hold_at=0.5))
    cache = tmp_path / "mambaenv-cache"
    args = ["download", "--url", srv.url("/" + NAME), "--dest", str(tmp_path / "d"), "--json", "--segments", "12"]
    # the child gets SIGINT's default disposition: a test run started in the background (nohup, `&` in a script) ignores
    # SIGINT, the child would inherit that, and Python installs its Ctrl-C handler only where SIGINT is not ignored
    proc = subprocess.Popen([sys.executable, "-m", "mambaenv", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, MAMBAENV_CACHE_DIR=str(cache)),
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        wait_until("the client save half the file", lambda: caught_up(route, cache), proc,
                   state=lambda: f"held {route.held} of {route.active}, sent {route.bytes_sent}, saved {saved_progress(cache)}")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        route.release.set()
    assert route.faults_done >= 12  # every connection was cut at its half
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err
    first, segments, asked_before = route.bytes_sent, saved_segments(cache), len(srv.requests)
    out = run_cli(*args, env={"MAMBAENV_CACHE_DIR": str(cache)})
    assert out.returncode == 0 and (tmp_path / "d" / NAME).read_bytes() == body
    assert asked_again(srv.requests[asked_before:], segments) == []
    assert route.bytes_sent - first <= 0.6 * len(body)


# --- errors that cannot succeed fail at once, with the cause -----------------------------------------

def test_a_redirect_loop_fails_at_once(srv, tmp_path):
    route = srv.add("/" + NAME, Route(redirect_to="/" + NAME))
    t0 = time.monotonic()
    with pytest.raises(DownloadError, match="redirects in a loop"):
        dl(tmp_path).fetch(srv.url("/" + NAME))
    assert time.monotonic() - t0 < 3 and route.hits <= 12


def test_a_refusing_proxy_fails_at_once(tmp_path, monkeypatch):
    import socket

    with socket.socket() as s:  # a port with nothing listening: the proxy refuses
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("NO_PROXY", "")
    monkeypatch.delenv("no_proxy", raising=False)
    t0 = time.monotonic()
    with pytest.raises(DownloadError, match="proxy refused"):
        dl(tmp_path).fetch("http://127.0.0.2:9/" + NAME)
    assert time.monotonic() - t0 < 3


@pytest.mark.parametrize("url,words", [
    ("file:///etc/" + NAME, "--offline-wheel"),
    ("http:///" + NAME, "malformed URL"),
    ("ftp://127.0.0.1/" + NAME, "malformed URL"),
])
def test_urls_that_cannot_work_fail_at_once(tmp_path, url, words):
    t0 = time.monotonic()
    out = run_cli("download", "--url", url, "--dest", str(tmp_path / "d"))
    assert out.returncode == 2 and words in one_line(out) and time.monotonic() - t0 < 10


def test_a_malformed_sha256_is_refused_before_the_download(srv, tmp_path):
    route = srv.add("/" + NAME, Route(body=SMALL))
    out = run_cli("download", "--url", srv.url("/" + NAME), "--sha256", "abc123", "--dest", str(tmp_path / "d"))
    assert out.returncode == 2 and "malformed sha256" in one_line(out) and route.hits == 0


# --- tracebacks become one line --------------------------------------------------------------------

@pytest.mark.parametrize("config,words", [
    ("[1, 2]", "holds a JSON list"),
    ('{"mirrors": "http://127.0.0.1:9/"}', "mirrors is a string, not a list"),
    ('{"mirrors": [42]}', "mirrors[0] is not an http(s) URL"),
    ("{not json", "is not valid JSON"),
])
def test_a_malformed_config_is_one_line_and_nothing_is_fetched(srv, tmp_path, config, words):
    route = srv.add("/" + NAME, Route(body=SMALL))
    (tmp_path / "mambaenv-config.json").write_text(config)
    out = run_cli("download", "--url", srv.url("/" + NAME), "--dest", str(tmp_path / "d"))
    assert out.returncode == 2 and words in one_line(out) and route.hits == 0


def test_paths_that_are_files_or_missing_are_one_line(srv, tmp_path):
    srv.add("/" + NAME, Route(body=SMALL))
    a_file = tmp_path / "[bold]plain"
    a_file.write_text("x")
    out = run_cli("download", "--url", srv.url("/" + NAME), "--dest", str(tmp_path / "d"), env={"MAMBAENV_CACHE_DIR": str(a_file)})
    assert out.returncode == 2 and "is a file" in one_line(out)
    out = run_cli("download", "--url", srv.url("/" + NAME), "--dest", str(a_file))
    line = one_line(out)
    assert out.returncode == 2 and "is a file" in line and "[bold]plain" in line  # markup shown, not eaten
    out = run_cli("download", "--url", srv.url("/" + NAME), "--dest", str(tmp_path / "d"), env={"REQUESTS_CA_BUNDLE": str(tmp_path / "nope.pem")})
    assert out.returncode == 2 and "REQUESTS_CA_BUNDLE" in one_line(out)


def test_a_read_only_cache_serves_its_hits_and_says_why_on_a_miss(srv, tmp_path):
    srv.add("/" + NAME, Route(body=SMALL))
    cache = tmp_path / "ro-cache"
    env = {"MAMBAENV_CACHE_DIR": str(cache)}
    assert run_cli("download", "--url", srv.url("/" + NAME), "--dest", str(tmp_path / "d1"), env=env).returncode == 0
    if os.geteuid() != 0 or subprocess.run(["mount", "--bind", str(cache), str(cache)], capture_output=True).returncode != 0:
        pytest.skip("needs root for a read-only bind mount")
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(cache)], check=True)
        hit = run_cli("download", "--url", srv.url("/" + NAME), "--dest", str(tmp_path / "d2"), "--json", env=env)
        assert hit.returncode == 0, hit.stderr
        assert json.loads(hit.stdout)["files"][0]["sha256"] == sha256(SMALL) and (tmp_path / "d2" / NAME).read_bytes() == SMALL
        srv.add("/other/" + NAME, Route(body=SMALL))
        miss = run_cli("download", "--url", srv.url("/other/" + NAME), "--dest", str(tmp_path / "d3"), env=env)
        assert miss.returncode == 3 and "not writable" in one_line(miss)
    finally:
        subprocess.run(["umount", "-l", str(cache)], check=False)


def test_a_wheel_whose_metadata_has_no_name_is_one_line(tmp_path):
    import zipfile

    w = tmp_path / f"causal_conv1d-1.0+{FIXTURE_LOCAL}-cp311-cp311-linux_x86_64.whl"
    with zipfile.ZipFile(w, "w") as zf:
        zf.writestr("c-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nVersion: 1.0\n")
        zf.writestr("c-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\n")
        zf.writestr("c-1.0.dist-info/RECORD", "")
    out = run_cli("install", "--offline-wheel", str(w), "--new-env", str(tmp_path / "env"), "--venv", env=SEAM)
    assert out.returncode == 4 and "no Name: field" in one_line(out) and not (tmp_path / "env").exists()


# --- docker options (no daemon needed: refused before it is asked) -------------------------------------

def test_docker_run_refuses_a_project_that_is_the_root_folder(tmp_path):
    link = tmp_path / "innocent"
    link.symlink_to("/")
    out = run_cli("docker", "run", str(link), "--image", "x", "--gpus", "none", "--network", "none", "--", "true")
    assert out.returncode == 7 and "root folder" in one_line(out)


@pytest.mark.parametrize("gpus", ["0;rm -rf /", "all,1", "-1", "device=0", ""])
def test_docker_run_refuses_a_malformed_gpus_value(tmp_path, gpus):
    out = run_cli("docker", "run", str(tmp_path), "--image", "x", "--gpus", gpus, "--network", "none", "--", "true")
    assert out.returncode == 7 and "malformed --gpus" in one_line(out)


def test_docker_run_options_mount_a_path_with_colon_and_comma_as_one_field(tmp_path):
    from mambaenv import docker as d
    from mambaenv.detect.engine_facts import DockerFacts
    from mambaenv.engines.podman_cli import create_args

    p = tmp_path / "a:b,c"
    p.mkdir()
    spec, _ = d.run_spec(d.RunRequestFacts(p, "img", "none", read_only=True, command=("true",), network="none"), DockerFacts(kind="podman"))
    assert (spec.source, spec.target, spec.read_only) == (str(p), "/workspace", True)
    args = create_args(spec)
    assert args[args.index("--mount") + 1] == f'type=bind,"source={p}",target=/workspace,ro'
    _, warnings = d.run_spec(d.RunRequestFacts(Path.home(), "img", "none"), DockerFacts(kind="docker"))
    assert warnings and "home folder" in warnings[0]


def test_text_from_logs_and_paths_is_shown_not_read_as_markup(tmp_path):
    """A log line or a path holding [...] (rich markup) is printed as it is, never a traceback, never eaten."""
    log = tmp_path / "pip.log"
    log.write_text("ImportError: /x/selective_scan_cuda.so: undefined symbol: _ZN3c105ErrorC2E [/]\n")
    out = run_cli("explain", "--file", str(log))
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr[-400:]
    assert "_ZN3c105ErrorC2E [/]" in out.stdout
    odd = tmp_path / "[red]x"
    odd.mkdir()
    wheel = write_wheel(odd, NAME)
    out = run_cli("inspect", str(wheel))
    assert out.returncode == 0 and wheel.name in out.stdout


def test_a_corrupt_wheel_with_its_own_sha256_still_fails_its_crc(srv, tmp_path):
    """Only the release's published digest spares the CRC pass: a digest the user typed (or a wheelhouse lists) does not."""
    body = bytearray(wheel_bytes("mamba_ssm", "2.2.2", payload_size=300 * 1024))
    body[len(body) // 3] ^= 0xFF  # inside the payload: the zip opens, its CRC does not match
    srv.add("/" + NAME, Route(body=bytes(body)))
    out = run_cli("download", "--url", srv.url("/" + NAME), "--sha256", sha256(bytes(body)), "--dest", str(tmp_path / "d"),
                  env={"MAMBAENV_CACHE_DIR": str(tmp_path / "c")})
    assert out.returncode == 3 and "CRC" in one_line(out)
    assert not list((tmp_path / "c").rglob("*.whl")) and not (tmp_path / "d" / NAME).exists()
