"""Hostile input, round two (issue 19): remote pages that point at local files, answers that never end, temp names
that follow planted links, a wheelhouse whose own files lie, wrong-shaped JSON everywhere, and what a new user trips over.

As in test_hostile.py: the loopback server (it counts what it sent and the faults it injected), real processes, real
venvs; each test says what the user sees and that nothing was written where the user did not name.
"""
import hashlib
import io
import json
import os
import socket
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.fixture_builders import FIXTURE_LOCAL
from tests.httpserver import LoopbackServer, Route, sha256
from tests.wheels import wheel_bytes, write_wheel

CAUSAL = f"causal_conv1d-1.0+{FIXTURE_LOCAL}-cp311-cp311-linux_x86_64.whl"
MAMBA = f"mamba_ssm-1.0+{FIXTURE_LOCAL}-cp311-cp311-linux_x86_64.whl"
FACTS = ["--python", "3.11", "--torch", "2.13.0", "--torch-cuda", "12.8", "--cxx11abi", "true"]
DEEP = "[" * 100_000 + "]" * 100_000  # nesting no JSON reader should recurse through


@pytest.fixture
def srv():
    with LoopbackServer() as s:
        yield s


def one_line(out) -> str:
    lines = [line for line in out.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, out.stderr
    assert "Traceback" not in out.stderr
    return lines[0]


def files_under(root: Path) -> set[Path]:
    return {p for p in Path(root).rglob("*") if p.is_file() or p.is_symlink()}


def page(*links: str) -> bytes:
    return ("<!DOCTYPE html><html><body>" + "".join(f'<a href="{u}">{u.rsplit("/", 1)[-1]}</a><br/>' for u in links)
            + "</body></html>").encode()


# --- broken 1: a remote page makes mambaenv copy local files ------------------------------------------------------------

@pytest.mark.parametrize("form", ["html", "json"])
def test_a_remote_wheelhouse_page_cannot_send_download_or_bundle_to_a_local_file(srv, tmp_path, form):
    (tmp_path / "private").mkdir()
    link = write_wheel(tmp_path / "private", CAUSAL).as_uri()  # a file of the user's the page names
    if form == "html":
        srv.add("/simple/causal-conv1d/", Route(body=page(link), content_type="text/html"))
    else:
        doc = {"meta": {"api-version": "1.0"}, "name": "causal-conv1d", "files": [{"filename": CAUSAL, "url": link, "hashes": {}}]}
        srv.add("/simple/causal-conv1d/", Route(body=json.dumps(doc).encode(), content_type="application/vnd.pypi.simple.v1+json"))
    house = ["--wheelhouse", srv.url("/simple/")]
    resolved = run_cli("resolve", "--package", "causal_conv1d", *FACTS, "--offline", *house, "--json")
    [skipped] = json.loads(resolved.stdout)["packages"][0]["wheelhouse_skipped"]
    assert skipped["file"] == CAUSAL and "leaves the scheme of the page" in skipped["reason"]
    dest = tmp_path / "dest"
    out = run_cli("download", "--package", "causal_conv1d", *FACTS, "--offline-catalog", *house, "--dest", str(dest))
    assert out.returncode != 0 and not (dest / CAUSAL).exists()  # the catalog has no wheel for this torch: nothing at all
    bundle = tmp_path / "b.tar"
    out = run_cli("bundle", "-o", str(bundle), *FACTS, "--offline-catalog", *house, "--index-url", "none")
    assert out.returncode != 0 and not bundle.exists()


def api_release(tag: str, name: str, url: str) -> dict:
    return {"tag_name": tag, "assets": [{"name": name, "size": 10, "digest": None, "browser_download_url": url}]}


def test_a_catalog_refresh_answer_with_file_urls_is_refused_and_writes_no_live_list(srv, tmp_path, isolated_cache):
    secret = tmp_path / CAUSAL.replace("1.0+", "9.9.9+")
    secret.write_bytes(wheel_bytes("causal_conv1d", "9.9.9"))
    srv.add("/repos/state-spaces/mamba/releases", Route(json_body=[]))
    srv.add("/repos/Dao-AILab/causal-conv1d/releases", Route(json_body=[api_release("v9.9.9", secret.name, secret.as_uri())]))
    out = run_cli("catalog", "refresh", "--api", srv.base)
    assert out.returncode == 2 and "outside the API's scheme" in one_line(out)
    assert not (isolated_cache / "live-releases.json").exists()


def test_a_live_list_holding_file_urls_is_dropped_and_nothing_local_is_copied(tmp_path, isolated_cache):
    """A live list written by an older mambaenv from such an answer: read as damaged, the shipped catalog answers."""
    secret = tmp_path / CAUSAL.replace("1.0+", "9.9.9+")
    secret.write_bytes(wheel_bytes("causal_conv1d", "9.9.9"))
    isolated_cache.mkdir(parents=True, exist_ok=True)
    (isolated_cache / "live-releases.json").write_text(json.dumps({
        "mamba_ssm": {}, "causal_conv1d": {"v9.9.9": [{"name": secret.name, "size": None, "url": secret.as_uri(), "digest": None}]}}))
    dest = tmp_path / "dest"
    out = run_cli("download", "--package", "causal_conv1d", *FACTS, "--dest", str(dest))
    assert "Traceback" not in out.stderr
    assert not (dest / secret.name).exists()


# --- broken 2: a server that drips bytes holds commands for ever ----------------------------------------------------------

DRIP = b"<!DOCTYPE html><html><body>" + b" " * 100_000 + b"</body></html>"  # a byte per 50 ms: well over an hour


def drip_index(srv) -> list:
    return [srv.add(f"/simple/{p}/", Route(body=DRIP, content_type="text/html", drip_s=0.05)) for p in ("mamba-ssm", "causal-conv1d")]


def test_resolve_against_a_drip_fed_index_answers_with_the_index_marked_not_checked(srv):
    routes = drip_index(srv)
    story = ["--python", "3.8", "--torch", "2.0.0", "--torch-cuda", "11.8", "--cxx11abi", "false"]  # wheels exist for it
    out = run_cli("resolve", *story, "--json", env={"MAMBAENV_INDEX_URL": srv.url("/simple/")}, timeout=60)
    assert out.returncode == 0, out.stderr
    catalog = json.loads(out.stdout)["catalog"]
    assert [c["checked"] for c in catalog] == [False, False]
    assert all(c["error"].startswith("not checked") and "within" in c["error"] for c in catalog)
    assert all(r.faults_done >= 1 and r.bytes_sent < len(DRIP) for r in routes)  # it dripped, and was not waited out
    human = run_cli("resolve", *story, env={"MAMBAENV_INDEX_URL": srv.url("/simple/")}, timeout=60)
    assert human.returncode == 0 and "not checked" in human.stderr


def test_doctor_against_a_drip_fed_index_marks_the_catalog_checks_not_checked(srv, torch_venv):
    routes = drip_index(srv)
    out = run_cli("doctor", "--python", str(torch_venv), "--json", env={"MAMBAENV_INDEX_URL": srv.url("/simple/")}, timeout=60)
    checks = {c["name"]: c for c in json.loads(out.stdout)["checks"]}
    for package in ("mamba_ssm", "causal_conv1d"):
        assert checks[f"catalog:{package}"]["status"] == "skip" and checks[f"catalog:{package}"]["detail"].startswith("not checked")
    assert all(r.faults_done >= 1 for r in routes)


def test_a_drip_fed_wheelhouse_is_given_up_on_and_the_catalog_answers(srv):
    route = srv.add("/simple/mamba-ssm/", Route(body=DRIP, content_type="text/html", drip_s=0.05))
    out = run_cli("resolve", "--package", "mamba_ssm", "--python", "3.11", "--torch", "2.6.0", "--torch-cuda", "12.4", "--cxx11abi", "true",
                  "--offline", "--wheelhouse", srv.url("/simple/"), "--json", timeout=120)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)["packages"][0]
    assert got["url"].startswith("https://github.com/") and "sent no whole answer within" in got["wheelhouse_errors"][0]
    assert route.faults_done >= 1 and route.bytes_sent < len(DRIP)


# --- broken 4: temp names beside outputs follow planted symlinks ------------------------------------------------------------

def test_download_never_writes_through_a_link_planted_at_its_temp_name(srv, tmp_path):
    body = wheel_bytes("causal_conv1d", "1.0")
    srv.add("/" + CAUSAL, Route(body=body))
    dest, victim = tmp_path / "dest", tmp_path / "victim.txt"
    dest.mkdir()
    victim.write_text("keep me")
    (dest / f".{CAUSAL}.mambaenv-tmp").symlink_to(victim)  # the name mambaenv used to write through
    out = run_cli("download", "--url", srv.url("/" + CAUSAL), "--dest", str(dest))
    assert out.returncode == 0, out.stderr
    assert victim.read_text() == "keep me"
    assert not (dest / CAUSAL).is_symlink() and (dest / CAUSAL).read_bytes() == body


def test_a_temp_file_of_another_download_into_the_same_dest_is_left_alone(srv, tmp_path):
    """Two downloads into one --dest used one temp name: one renamed the other's half-copied file ("cannot place")."""
    body = wheel_bytes("causal_conv1d", "1.0")
    srv.add("/" + CAUSAL, Route(body=body))
    dest = tmp_path / "dest"
    dest.mkdir()
    theirs = dest / f".{CAUSAL}.mambaenv-tmp"
    theirs.write_bytes(b"half of another run's copy")
    out = run_cli("download", "--url", srv.url("/" + CAUSAL), "--dest", str(dest))
    assert out.returncode == 0, out.stderr
    assert theirs.read_bytes() == b"half of another run's copy" and (dest / CAUSAL).read_bytes() == body


def test_concurrent_downloads_into_one_dest_all_place_the_file(srv, tmp_path):
    body = wheel_bytes("causal_conv1d", "1.0", payload_size=2 * 1024 * 1024)
    srv.add("/" + CAUSAL, Route(body=body))
    dest = tmp_path / "dest"
    procs = [subprocess.Popen([sys.executable, "-m", "mambaenv", "download", "--url", srv.url("/" + CAUSAL), "--dest", str(dest)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in range(8)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    assert all(rc == 0 for rc, _ in results), results
    assert sorted(p.name for p in dest.iterdir()) == [CAUSAL] and (dest / CAUSAL).read_bytes() == body


def test_bundle_never_writes_through_a_link_planted_at_its_temp_name(tmp_path):
    wheel = write_wheel(tmp_path, CAUSAL)
    out_file, victim = tmp_path / "out" / "mamba.bundle", tmp_path / "victim.txt"
    out_file.parent.mkdir()
    victim.write_text("keep me")
    (out_file.parent / ".mamba.bundle.part").symlink_to(victim)
    out = run_cli("bundle", "-o", str(out_file), "--wheel", str(wheel), *FACTS, "--index-url", "none")
    assert out.returncode == 0, out.stderr
    assert victim.read_text() == "keep me"
    assert not out_file.is_symlink() and tarfile.is_tarfile(out_file)


# --- broken 5: publish writes outside the wheelhouse --------------------------------------------------------------------------

@pytest.fixture
def house(tmp_path):
    house = tmp_path / "lab" / "house"
    src = tmp_path / "src"
    src.mkdir()
    out = run_cli("publish", str(write_wheel(src, CAUSAL)), "--to", str(house), "--json")
    assert out.returncode == 0, out.stderr
    return house


def test_a_manifest_project_that_climbs_out_writes_nothing_outside(house, tmp_path):
    manifest = house / "mambaenv-wheelhouse.json"
    data = json.loads(manifest.read_text())
    data["files"][CAUSAL]["project"] = "../../../escaped"
    manifest.write_text(json.dumps(data))
    (house / "simple" / "index.html").unlink()  # the index is gone: publish writes every project's page again
    new = write_wheel(tmp_path / "src", MAMBA)
    before = files_under(tmp_path)
    out = run_cli("publish", str(new), "--to", str(house), "--json")
    assert out.returncode == 0, out.stderr
    assert [p for p in files_under(tmp_path) - before if not p.is_relative_to(house)] == []
    assert (house / "simple" / "causal-conv1d" / "index.html").is_file()


@pytest.mark.parametrize("planted", ["simple/mamba-ssm", "packages"])
def test_a_symlink_planted_in_the_wheelhouse_is_refused_and_nothing_is_written_through_it(house, tmp_path, planted):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    link = house / planted
    if link.exists():
        for f in link.iterdir():
            (elsewhere / f.name).write_bytes(f.read_bytes())
            f.unlink()
        link.rmdir()
    link.symlink_to(elsewhere)
    before = {p: p.read_bytes() for p in elsewhere.iterdir()}
    out = run_cli("publish", str(write_wheel(tmp_path / "src", MAMBA)), "--to", str(house))
    assert out.returncode == 2 and "is a symlink inside the wheelhouse" in one_line(out)
    assert {p: p.read_bytes() for p in elsewhere.iterdir()} == before


# --- weak: wrong-shaped JSON anywhere is one line, a damaged cache record is dropped --------------------------------------------

@pytest.mark.parametrize("content,words", [
    ('{"wheelhouses": 5}', "wheelhouses is an integer, not a list or a string"),
    ('{"wheelhouses": ["/a", 3]}', "wheelhouses[1] is an integer, not a string"),
    ('{"mirror": ["https://m.example/"]}', "unknown key 'mirror'"),
    (DEEP, "nests deeper than"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", "is not valid JSON"),
], ids=["wrong-type", "wrong-item", "unknown-key", "deep", "binary"])
def test_a_config_of_the_wrong_shape_is_one_line_naming_the_file_and_the_key(tmp_path, content, words):
    config = tmp_path / "mambaenv-config.json"
    config.write_bytes(content if isinstance(content, bytes) else content.encode())
    out = run_cli("resolve", *FACTS, "--offline")
    assert out.returncode == 2
    line = one_line(out)
    assert words in line and str(config) in line


def test_a_config_that_is_a_fifo_is_refused_at_once(tmp_path):
    os.mkfifo(tmp_path / "mambaenv-config.json")
    out = run_cli("resolve", *FACTS, "--offline", timeout=30)  # reading a FIFO without a writer waits for ever
    assert out.returncode == 2 and "is not a regular file" in one_line(out)


@pytest.mark.parametrize("doc,words", [
    ({"files": {"a": 1}}, "files is an object, not a list"),
    ({"files": [{"filename": CAUSAL, "url": 5}]}, "files[0].url is an integer"),
    ({"files": ["x"]}, "files[0] is a string, not an object"),
])
def test_a_pep691_page_of_the_wrong_shape_is_a_warning_naming_the_field(srv, doc, words):
    srv.add("/simple/mamba-ssm/", Route(body=json.dumps(doc).encode(), content_type="application/vnd.pypi.simple.v1+json"))
    out = run_cli("resolve", "--package", "mamba_ssm", "--python", "3.11", "--torch", "2.6.0", "--torch-cuda", "12.4", "--cxx11abi", "true",
                  "--offline", "--wheelhouse", srv.url("/simple/"), "--json")
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    got = json.loads(out.stdout)["packages"][0]
    assert got["url"].startswith("https://github.com/") and words in got["wheelhouse_errors"][0]


@pytest.mark.parametrize("answer,words", [
    ({"message": "Not Found"}, "the top level is an object, not a list"),
    ([{"tag_name": 5}], "[0].tag_name is an integer"),
    ([{"tag_name": "v1", "assets": [{"size": 3}]}], "[0].assets[0].name is missing"),
])
def test_a_catalog_refresh_answer_of_the_wrong_shape_is_one_line_naming_the_field(srv, isolated_cache, answer, words):
    srv.add("/repos/state-spaces/mamba/releases", Route(json_body=answer))
    srv.add("/repos/Dao-AILab/causal-conv1d/releases", Route(json_body=[]))
    out = run_cli("catalog", "refresh", "--api", srv.base)
    assert out.returncode == 2 and words in one_line(out)
    assert not (isolated_cache / "live-releases.json").exists()


@pytest.mark.parametrize("live", [
    DEEP,
    json.dumps({"mamba_ssm": {"v2.2.2": [{"name": 5}]}}),
    json.dumps({"mamba_ssm": ["not", "tags"]}),
    json.dumps([1, 2]),
], ids=["deep", "wrong-type", "wrong-shape", "a-list"])
def test_a_damaged_live_list_is_dropped_and_resolve_still_answers(isolated_cache, live):
    isolated_cache.mkdir(parents=True, exist_ok=True)
    (isolated_cache / "live-releases.json").write_text(live)
    out = run_cli("resolve", "--python", "3.8", "--torch", "2.0.0", "--torch-cuda", "11.8", "--cxx11abi", "false", "--json")
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    assert json.loads(out.stdout)["packages"][0]["file"] == "mamba_ssm-2.2.2+cu118torch2.0cxx11abiFALSE-cp38-cp38-linux_x86_64.whl"


def test_a_bundle_manifest_nested_too_deep_is_one_line(tmp_path):
    bundle = tmp_path / "b.tar"
    with tarfile.open(bundle, "w") as tf:
        data = DEEP.encode()
        info = tarfile.TarInfo("mambaenv-bundle.json")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    out = run_cli("install", "--offline-wheel", str(bundle), "--new-env", str(tmp_path / "env"), "--venv")
    assert out.returncode == 2 and "unreadable mambaenv-bundle.json" in one_line(out)
    assert not (tmp_path / "env").exists()


def test_a_doctor_file_of_the_wrong_shape_is_one_line(tmp_path):
    doctor = tmp_path / "doctor.json"
    doctor.write_text(json.dumps({"target": {"python": 3.8, "torch": "2.0.0"}}))
    out = run_cli("bundle", "-o", str(tmp_path / "b.tar"), "--from", str(doctor), "--offline-catalog")
    assert out.returncode == 2 and "target.python is a number, not a string" in one_line(out)


@pytest.mark.parametrize("damage", [DEEP, '{"files": {"%s": "a string"}}' % CAUSAL, '{"files": [1]}'], ids=["deep", "entry", "files"])
def test_a_damaged_wheelhouse_manifest_is_read_again_from_the_files(house, tmp_path, damage):
    (house / "mambaenv-wheelhouse.json").write_text(damage)
    out = run_cli("publish", str(write_wheel(tmp_path / "src", MAMBA)), "--to", str(house), "--json")
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    assert json.loads(out.stdout)["notes"]
    entry = json.loads((house / "mambaenv-wheelhouse.json").read_text())["files"][CAUSAL]
    assert entry["sha256"] == sha256((house / "packages" / CAUSAL).read_bytes())


@pytest.mark.parametrize("record", [DEEP, '{"sha256": 5, "name": []}', "[]"], ids=["deep", "wrong-types", "a-list"])
def test_a_damaged_download_cache_record_is_a_miss_not_a_traceback(srv, tmp_path, isolated_cache, record):
    body = wheel_bytes("causal_conv1d", "1.0")
    route = srv.add("/" + CAUSAL, Route(body=body))
    args = ("download", "--url", srv.url("/" + CAUSAL), "--dest", str(tmp_path / "d"))
    assert run_cli(*args).returncode == 0
    for index in (isolated_cache / "downloads" / "urls").glob("*.json"):
        index.write_text(record)
    hits = route.hits
    out = run_cli(*args)
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    assert route.hits > hits and (tmp_path / "d" / CAUSAL).read_bytes() == body  # a miss: fetched again


def test_a_damaged_smoke_record_is_dropped_by_doctor(torch_venv, isolated_cache):
    from mambaenv.smoke import record_smoke_result

    path = record_smoke_result({"result": "passed", "steps": []}, isolated_cache, str(torch_venv))
    path.write_text('[{"ok": true}]')
    out = run_cli("doctor", "--python", str(torch_venv), "--offline", "--json")
    assert "Traceback" not in out.stderr, out.stderr
    assert "smoke" not in {c["name"] for c in json.loads(out.stdout)["checks"]}


# --- weak: build cache --------------------------------------------------------------------------------------------------------

BUILT = "causal_conv1d-1.7.0+cu13torch2.11cxx11abiTRUE-cp312-cp312-linux_x86_64.whl"


def stored_build(tmp_path):
    from mambaenv.build_cache import BuildKey, store_build

    key = BuildKey("causal_conv1d", "ab" * 32, "2.11.0+cu130", "13.0", "3.12", True, "9.0")
    (tmp_path / "out").mkdir()
    wheel = write_wheel(tmp_path / "out", BUILT, tag="cp312-cp312-linux_x86_64")
    cache = tmp_path / "cache"
    return key, cache, store_build(wheel, key, cache)


def test_a_swapped_build_with_a_rewritten_build_json_is_not_served(tmp_path):
    from mambaenv.build_cache import find_cached_build

    key, cache, stored = stored_build(tmp_path)
    evil = wheel_bytes("causal_conv1d", "1.7.0", extra_files={"causal_conv1d/evil.py": b"import os\n"})
    stored.write_bytes(evil)
    meta = next((cache / "builds").rglob("build.json"))
    info = json.loads(meta.read_text())
    info["sha256"] = hashlib.sha256(evil).hexdigest()  # what the old lookup compared the bytes with
    meta.write_text(json.dumps(info))
    assert find_cached_build(key, cache) is None


def test_a_build_json_wheel_that_points_out_of_the_cache_is_never_followed(tmp_path):
    from mambaenv.build_cache import cached_builds, find_cached_build

    key, cache, stored = stored_build(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    planted = write_wheel(outside, BUILT, tag="cp312-cp312-linux_x86_64")
    meta = next((cache / "builds").rglob("build.json"))
    info = json.loads(meta.read_text())
    info.update(wheel=os.path.relpath(planted, meta.parent), sha256=hashlib.sha256(planted.read_bytes()).hexdigest())
    meta.write_text(json.dumps(info))
    found = find_cached_build(key, cache)
    assert found is None or found.resolve().is_relative_to(cache.resolve())
    assert all(Path(b["wheel"]).resolve().is_relative_to(cache.resolve()) for b in cached_builds(cache))


# --- weak: size bounds ----------------------------------------------------------------------------------------------------------

def test_an_index_page_beyond_the_size_bound_is_not_read_to_the_end(srv):
    huge = b"<html><body>" + b"<!-- padding -->" * (20 * 1024 * 1024 // 16) + b"</body></html>"
    route = srv.add("/simple/mamba-ssm/", Route(body=huge, content_type="text/html"))
    out = run_cli("resolve", "--package", "mamba_ssm", "--python", "3.11", "--torch", "2.6.0", "--torch-cuda", "12.4", "--cxx11abi", "true",
                  "--offline", "--wheelhouse", srv.url("/simple/"), "--json")
    got = json.loads(out.stdout)["packages"][0]
    assert got["url"].startswith("https://github.com/") and "such a page can need" in got["wheelhouse_errors"][0]
    assert route.bytes_sent < len(huge)


def test_an_index_page_with_a_flood_of_links_is_refused(srv):
    links = "".join(f'<a href="/f/mamba_ssm-0.{i}-py3-none-any.whl">x</a>' for i in range(20_001))
    srv.add("/simple/mamba-ssm/", Route(body=links.encode(), content_type="text/html"))
    out = run_cli("resolve", "--package", "mamba_ssm", "--python", "3.11", "--torch", "2.6.0", "--torch-cuda", "12.4", "--cxx11abi", "true",
                  "--offline", "--wheelhouse", srv.url("/simple/"), "--json")
    got = json.loads(out.stdout)["packages"][0]
    assert "lists more than 20000 files" in got["wheelhouse_errors"][0]


def metadata_bomb(path: Path, metadata_size: int) -> Path:
    """A small wheel whose METADATA expands to ``metadata_size`` bytes."""
    dist = "mamba_ssm-1.0.dist-info"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{dist}/METADATA", "Metadata-Version: 2.1\nName: mamba_ssm\nVersion: 1.0\n" + "A" * metadata_size)
        zf.writestr(f"{dist}/WHEEL", "Wheel-Version: 1.0\n")
        zf.writestr(f"{dist}/RECORD", "")
    return path


def test_a_metadata_bomb_is_refused_before_it_is_read(tmp_path):
    wheel = metadata_bomb(tmp_path / MAMBA, 64 * 1024 * 1024)
    assert wheel.stat().st_size < 1024 * 1024
    out = run_cli("inspect", str(wheel))
    assert out.returncode == 4 and "METADATA" in one_line(out) and "a few kB" in one_line(out)


def test_a_library_that_expands_far_beyond_its_compressed_size_is_not_extracted(tmp_path):
    wheel = tmp_path / MAMBA
    dist = "mamba_ssm-1.0.dist-info"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{dist}/METADATA", "Metadata-Version: 2.1\nName: mamba_ssm\nVersion: 1.0\n")
        zf.writestr(f"{dist}/WHEEL", "Wheel-Version: 1.0\n")
        zf.writestr(f"{dist}/RECORD", "")
        with zf.open("mamba_ssm/selective_scan_cuda.so", "w", force_zip64=True) as f:
            f.write(b"\x7fELF")
            zeros = b"\0" * (1 << 20)
            for _ in range(768):  # 768 MiB: past the size at which any compression is taken
                f.write(zeros)
    assert wheel.stat().st_size < 2 * 1024 * 1024
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    out = run_cli("inspect", str(wheel), "--json", env={"TMPDIR": str(tmpdir)})
    assert out.returncode == 0, out.stderr
    [lib] = json.loads(out.stdout)["libraries"]
    assert "expands" in lib["note"] and "not inspected" in lib["note"]


def test_a_server_offering_more_than_such_a_wheel_can_weigh_is_refused_before_the_body(srv, tmp_path):
    name = "mamba_ssm-9.9.9+cu12torch2.6cxx11abiTRUE-cp311-cp311-linux_x86_64.whl"  # no catalog size for it
    body = wheel_bytes("mamba_ssm", "9.9.9", payload_size=32 * 1024 * 1024)
    route = srv.add("/" + name, Route(body=body, ranges=False, content_length_extra=2 * 1024 ** 3))  # "2 GiB"
    out = run_cli("download", "--url", srv.url("/" + name), "--sha256", "0" * 64, "--dest", str(tmp_path / "d"))
    assert out.returncode == 3 and "more than the" in one_line(out) and "can weigh" in one_line(out)
    assert route.bytes_sent < len(body) // 2


# --- weak: publish trusts what it finds -------------------------------------------------------------------------------------------

def test_publish_refuses_a_wheel_whose_metadata_names_another_project(tmp_path):
    liar = tmp_path / CAUSAL
    liar.write_bytes(wheel_bytes("mamba_ssm", "1.0"))
    out = run_cli("publish", str(liar), "--to", str(tmp_path / "house"))
    assert out.returncode != 0 and "its METADATA says mamba_ssm" in one_line(out)
    assert not list((tmp_path / "house").rglob("*.whl"))


def test_publish_refuses_a_metadata_with_two_versions(tmp_path):
    two = tmp_path / CAUSAL
    with zipfile.ZipFile(io.BytesIO(wheel_bytes("causal_conv1d", "1.0"))) as src, zipfile.ZipFile(two, "w") as dst:
        for info in src.infolist():  # written again member by member, so every CRC is right
            data = src.read(info)
            dst.writestr(info, data.replace(b"Version: 1.0\n", b"Version: 1.0\nVersion: 6.6\n") if info.filename.endswith("/METADATA") else data)
    out = run_cli("publish", str(two), "--to", str(tmp_path / "house"))
    assert out.returncode != 0 and "2 Version: fields" in one_line(out)


def test_garbage_and_symlinks_dropped_into_packages_stay_out_of_the_index(house, tmp_path):
    (house / "packages" / MAMBA).write_bytes(b"PK\x03\x04 not a wheel at all")
    outside = write_wheel(tmp_path, "einops-0.8.0-py3-none-any.whl")
    (house / "packages" / outside.name).symlink_to(outside)
    out = run_cli("publish", str(write_wheel(tmp_path / "src", CAUSAL.replace("1.0+", "1.1+"))), "--to", str(house), "--json")
    assert out.returncode == 0, out.stderr
    left = {f["file"]: f["reason"] for f in json.loads(out.stdout)["left_out"]}
    assert set(left) == {MAMBA, outside.name} and "symlink" in left[outside.name]
    listed = " ".join(p.read_text() for p in (house / "simple").rglob("index.html"))
    assert MAMBA not in listed and outside.name not in listed and "einops" not in listed


def test_a_manifest_digest_is_never_written_unchecked_into_the_index(house, tmp_path):
    manifest = house / "mambaenv-wheelhouse.json"
    data = json.loads(manifest.read_text())
    real = data["files"][CAUSAL]["sha256"]
    for forged in ('"><script>alert(1)</script>', "0" * 64):  # markup, then a well-formed digest of other bytes
        data["files"][CAUSAL] = {"sha256": forged, "size": (house / "packages" / CAUSAL).stat().st_size, "project": "causal-conv1d"}
        manifest.write_text(json.dumps(data))
        (house / "simple" / "causal-conv1d" / "index.html").unlink()
        out = run_cli("publish", str(write_wheel(tmp_path / "src", MAMBA)), "--to", str(house))
        assert out.returncode == 0, out.stderr
        text = (house / "simple" / "causal-conv1d" / "index.html").read_text()
        assert f"#sha256={real}" in text and "<script>" not in text and "0" * 64 not in text


# --- weak: a mirror's bytes are checked against the name, a DNS failure is not retried ---------------------------------------------

def test_a_mirror_serving_another_projects_wheel_under_this_name_is_refused(srv, tmp_path):
    name = "causal_conv1d-9.9.9+cu12torch2.6cxx11abiTRUE-cp311-cp311-linux_x86_64.whl"  # no published sha256 for it
    original = "https://github.com/Dao-AILab/causal-conv1d/releases/download/v9.9.9/" + name
    srv.add("/gh/" + original, Route(body=wheel_bytes("mamba_ssm", "9.9.9")))
    out = run_cli("download", "--url", original, "--dest", str(tmp_path / "d"),
                  env={"MAMBAENV_MIRROR": srv.url("/gh/"), "MAMBAENV_MIRROR_ONLY": "1"})
    assert out.returncode == 3 and "its METADATA says mamba_ssm" in one_line(out)
    assert not (tmp_path / "d" / name).exists()


def test_a_dns_failure_is_reported_at_once_not_retried(tmp_path, monkeypatch):
    """No name server may be asked from a test: the resolver's answer is the one seam (a socket.gaierror, as glibc gives)."""
    from mambaenv.fetch import Downloader, DownloadError

    asked = []
    real = socket.getaddrinfo

    def resolver(host, *args, **kw):
        if host == "mirror.invalid":
            asked.append(host)
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    with pytest.raises(DownloadError, match="no such host"):
        Downloader(tmp_path / "c").fetch("http://mirror.invalid/" + CAUSAL)
    assert asked == ["mirror.invalid"]


# --- a new user's findings ----------------------------------------------------------------------------------------------------------

def venv(path: Path) -> Path:
    from uv import find_uv_bin

    subprocess.run([find_uv_bin(), "venv", "-q", "--python", sys.executable, str(path)], check=True)
    return path / "bin" / "python"


def test_doctor_shows_only_the_smoke_result_of_the_env_it_examines(tmp_path, isolated_cache):
    from mambaenv.smoke import record_smoke_result

    a, b = venv(tmp_path / "a"), venv(tmp_path / "b")
    assert os.path.realpath(a) == os.path.realpath(b)  # two venvs of one base Python: the same binary
    record_smoke_result({"result": "passed", "steps": []}, isolated_cache, str(a))
    checks = {c["name"]: c for c in json.loads(run_cli("doctor", "--python", str(b), "--offline", "--json").stdout)["checks"]}
    assert "smoke" not in checks
    checks = {c["name"]: c for c in json.loads(run_cli("doctor", "--python", str(a), "--offline", "--json").stdout)["checks"]}
    assert checks["smoke"]["status"] == "pass"


def test_install_offline_wheel_of_another_project_says_what_it_takes(tmp_path):
    six = write_wheel(tmp_path, "six-1.16.0-py2.py3-none-any.whl")
    out = run_cli("install", "--offline-wheel", str(six), "--new-env", str(tmp_path / "env"), "--venv")
    line = one_line(out)
    assert out.returncode == 2 and "is a six wheel" in line and "takes a mamba_ssm or causal_conv1d wheel" in line
    assert "not named like a wheel" not in line and not (tmp_path / "env").exists()


@pytest.mark.parametrize("name", ["mamba.bundle", MAMBA])
def test_inspect_of_a_bundle_says_it_is_one(tmp_path, name):
    wheel = write_wheel(tmp_path, CAUSAL)
    bundle = tmp_path / name
    with tarfile.open(bundle, "w") as tf:
        tf.add(wheel, arcname=wheel.name)
    out = run_cli("inspect", str(bundle))
    assert out.returncode == 4 and "is a tar archive" in one_line(out) and "--offline-wheel" in one_line(out)


def test_build_in_an_env_without_torch_says_there_is_no_torch(tmp_path):
    bare = venv(tmp_path / "bare")
    out = run_cli("build", "--python", str(bare), "--arch", "9.0")
    line = one_line(out)
    assert out.returncode == 2 and "there is no torch" in line and "CPU-only" not in line


@pytest.mark.parametrize("facts,words", [
    (["--torch", "2.6.0"], "does not say which CUDA"),
    (["--torch", "2.6.0+cpu", "--torch-cuda", "12.6"], "is a CPU-only build, but --torch-cuda is 12.6"),
])
def test_torch_facts_that_leave_cuda_unsaid_or_contradict_it_are_refused(facts, words):
    out = run_cli("resolve", "--offline", "--python", "3.11", *facts, "--cxx11abi", "true")
    assert out.returncode == 2 and words in one_line(out)


def test_a_cpu_only_torch_explicitly_given_resolves_to_the_reason_once(tmp_path):
    out = run_cli("download", "--offline-catalog", "--python", "3.12", "--torch", "2.8.0+cpu", "--cxx11abi", "true", "--dest", str(tmp_path))
    line = one_line(out)
    assert out.returncode == 1 and line.count("CPU-only") == 1


def test_catalog_wheels_takes_all_as_list_and_resolve_do():
    out = run_cli("catalog", "wheels", "--package", "all", "--offline", "--json")
    assert out.returncode == 0, out.stderr
    assert {w["package"] for w in json.loads(out.stdout)["wheels"]} == {"mamba_ssm", "causal_conv1d"}


def test_inspect_takes_the_files_a_glob_expands_to(tmp_path):
    a, b = write_wheel(tmp_path, CAUSAL), write_wheel(tmp_path, MAMBA)
    out = run_cli("inspect", str(a), str(b), "--json")
    assert out.returncode == 0, out.stderr
    assert [d["file"] for d in json.loads(out.stdout)] == [CAUSAL, MAMBA]
    human = run_cli("inspect", str(a), str(b))
    assert human.returncode == 0 and CAUSAL in human.stdout and MAMBA in human.stdout
