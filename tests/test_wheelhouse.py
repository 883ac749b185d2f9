"""Wheelhouses: publish real wheels into a PEP 503 folder, serve it from 127.0.0.1, install from it with pip, uv and mambaenv."""
import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mambaenv.wheelhouse import parse_simple_html, parse_simple_json
from tests.conftest import run_cli
from tests.fixture_builders import ensure_torch_venv, fixture_wheel, wheelhouse
from tests.httpserver import ServerThread
from tests.wheels import write_wheel

SEAM = {"MAMBAENV_ASSUME_TORCH_CUDA": "12.8"}  # the GPU seam: this CPU torch stands for a CUDA 12 build
FACTS = ["--python", "3.11", "--torch-cuda", "12.8", "--cxx11abi", "true", "--offline"]
PY_TAG = f"cp{sys.version_info[0]}{sys.version_info[1]}"


class StaticServer(ServerThread):
    """Any static web server: Python's own, serving a folder on 127.0.0.1; it records the paths asked for."""

    def __init__(self, root: Path):
        seen = self.paths = []

        class Handler(SimpleHTTPRequestHandler):
            def log_message(self, *args):
                seen.append(self.path)

        super().__init__(ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root))))

    @property
    def url(self) -> str:
        return self.base


def isolated_installer_env() -> dict:
    """No machine-wide pip/uv configuration: the wheelhouse must be the only place a package can come from."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    return dict(env, PIP_CONFIG_FILE=os.devnull, UV_NO_CONFIG="1", PIP_DISABLE_PIP_VERSION_CHECK="1")


def installed(python: Path, name: str) -> str | None:
    code = f"import importlib.metadata as m\ntry: print(m.version({name!r}))\nexcept m.PackageNotFoundError: print('')"
    return subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True).stdout.strip() or None


def fresh_venv(path: Path) -> Path:
    from uv import find_uv_bin

    subprocess.run([find_uv_bin(), "venv", "-q", "--seed", "--python", sys.executable, str(path)], check=True, env=isolated_installer_env())
    return path / "bin" / "python"


def renamed(src: Path, folder: Path, local: str) -> Path:
    """The same bytes under another build's file name (what a wheel built for another torch is called)."""
    dest = folder / re.sub(r"\+[^-]+-", f"+{local}-", src.name, count=1)
    shutil.copyfile(src, dest)
    return dest


@pytest.fixture(scope="module")
def built():
    """Pure-Python builds of the real sdists, named as mambaenv build / upstream name them; a downloaded dependency wheel."""
    return {"mamba": fixture_wheel("mamba_ssm", "2.2.4"), "causal": fixture_wheel("causal_conv1d", "1.5.0.post8"),
            "einops": next(wheelhouse().glob("einops-*.whl")), "house": wheelhouse()}


@pytest.fixture
def published(tmp_path, built):
    house = tmp_path / "lab-wheelhouse"
    out = run_cli("publish", str(built["mamba"]), str(built["causal"]), str(built["einops"]), "--to", str(house), "--json")
    assert out.returncode == 0, out.stderr
    return house, json.loads(out.stdout)


def test_publish_writes_a_pep503_index_that_pip_and_uv_install_from_over_http(tmp_path, published, built):
    house, result = published
    assert sorted(result["added"]) == sorted(p.name for p in (built["mamba"], built["causal"], built["einops"]))
    assert result["projects"] == ["causal-conv1d", "einops", "mamba-ssm"]
    # The local version says what the wheel was built for; it stays in the name, and METADATA now agrees with it.
    assert (house / "packages" / built["mamba"].name).is_file()
    assert built["mamba"].name in result["metadata_versions_set"]
    page = (house / "simple" / "mamba-ssm" / "index.html").read_text()
    [link] = parse_simple_html(page, (house / "simple" / "mamba-ssm" / "index.html").as_uri(), "x")
    assert link.sha256 == hashlib.sha256((house / "packages" / built["mamba"].name).read_bytes()).hexdigest()
    [same] = parse_simple_json(json.loads((house / "simple" / "mamba-ssm" / "index.json").read_text()), link.url, "x")
    assert same.sha256 == link.sha256

    from uv import find_uv_bin

    with StaticServer(house) as srv:
        index = f"{srv.url}/simple/"
        py_pip = fresh_venv(tmp_path / "pip-env")
        pip = subprocess.run([str(py_pip), "-m", "pip", "install", "-q", "--no-deps", "--index-url", index, "mamba_ssm", "causal_conv1d", "einops"],
                             capture_output=True, text=True, env=isolated_installer_env())
        assert pip.returncode == 0, pip.stderr
        py_uv = fresh_venv(tmp_path / "uv-env")
        uv = subprocess.run([find_uv_bin(), "pip", "install", "-q", "--python", str(py_uv), "--no-deps", "--index-url", index,
                             "mamba_ssm", "causal_conv1d", "einops"], capture_output=True, text=True, env=isolated_installer_env())
        assert uv.returncode == 0, uv.stderr
    for py in (py_pip, py_uv):
        assert installed(py, "mamba_ssm") == "2.2.4+cu12torch2.13cxx11abitrue"
        assert installed(py, "causal_conv1d") == "1.5.0.post8+cu12torch2.13cxx11abitrue"
        assert installed(py, "einops")
    assert any(p.startswith("/simple/mamba-ssm/") for p in srv.paths)
    assert any(p.startswith("/packages/mamba_ssm-2.2.4") for p in srv.paths)


def test_second_publish_of_the_same_file_is_a_no_op_and_other_bytes_under_that_name_are_refused(tmp_path, published, built):
    house, _ = published
    target = house / "packages" / built["mamba"].name
    before = target.read_bytes()
    again = run_cli("publish", str(built["mamba"]), "--to", str(house), "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["unchanged"] == [built["mamba"].name] and json.loads(again.stdout)["added"] == []

    other = tmp_path / "other"
    other.mkdir()
    impostor = write_wheel(other, built["mamba"].name)  # same name, different bytes
    out = run_cli("publish", str(impostor), "--to", str(house))
    assert out.returncode == 2
    assert "already exists with other bytes" in out.stderr and "never replaced" in out.stderr
    assert target.read_bytes() == before


def test_publish_refuses_a_file_that_is_not_a_whole_wheel_and_writes_nothing(tmp_path):
    bad = tmp_path / "mamba_ssm-2.2.4+cu12torch2.13cxx11abiTRUE-cp311-cp311-linux_x86_64.whl"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    odd = tmp_path / "evil.whl"
    odd.write_bytes(b"x")
    for f in (bad, odd):
        out = run_cli("publish", str(f), "--to", str(tmp_path / "house"))
        assert out.returncode != 0
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert not list((tmp_path / "house").rglob("*.whl"))


def test_concurrent_publishes_leave_a_valid_index(tmp_path):
    """Six publishers at once, five wheels each, plus one file all of them publish: every file is indexed, every hash right."""
    house = tmp_path / "shared-house"
    shared = write_wheel(tmp_path, "shared_dep-1.0-py3-none-any.whl")
    procs = []
    for i in range(6):
        src = tmp_path / f"src{i}"
        src.mkdir()
        for j in range(5):
            write_wheel(src, f"pkg{j}-1.{i}-py3-none-any.whl", payload_size=200_000)
        shutil.copy(shared, src)
        procs.append(subprocess.Popen([sys.executable, "-m", "mambaenv", "publish", str(src), "--to", str(house), "--json"],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = [(p.wait(timeout=300), p.stdout.read(), p.stderr.read()) for p in procs]
    assert all(rc == 0 for rc, _, _ in results), results
    added = [f for _, out, _ in results for f in json.loads(out)["added"]]
    assert added.count("shared_dep-1.0-py3-none-any.whl") == 1  # the others saw it already there
    files = sorted(p.name for p in (house / "packages").glob("*.whl"))
    assert len(files) == 31
    indexed = []
    for page in (house / "simple").glob("*/index.html"):
        for c in parse_simple_html(page.read_text(), page.as_uri(), "x"):
            assert c.sha256 == hashlib.sha256(Path(c.local_path).read_bytes()).hexdigest()
            indexed.append(c.filename)
    assert sorted(indexed) == files
    root = (house / "simple" / "index.html").read_text()
    assert all(f'href="pkg{j}/"' in root for j in range(5))
    assert not [p for p in house.rglob("*.tmp")]


def test_resolve_prefers_the_wheelhouse_wheel_over_the_catalog_one(tmp_path, built):
    """torch 2.6 has an upstream wheel in the catalog; a wheelhouse wheel for the same env wins, and says so."""
    src = tmp_path / "src"
    src.mkdir()
    lab = renamed(built["mamba"], src, "cu12torch2.6cxx11abiTRUE")
    house = tmp_path / "house"
    assert run_cli("publish", str(lab), "--to", str(house)).returncode == 0
    args = ["resolve", "--package", "mamba_ssm", "--torch", "2.6.0", *FACTS, "--json"]
    plain = json.loads(run_cli(*args).stdout)["packages"][0]
    assert plain["origin"] != "wheelhouse" and plain["url"].startswith("https://github.com/")
    with StaticServer(house) as srv:
        out = run_cli(*args, "--wheelhouse", srv.url)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)["packages"][0]
    assert got["origin"] == "wheelhouse" and got["wheelhouse"] == srv.url
    assert got["file"] == lab.name and got["url"].startswith(srv.url + "/packages/")


def test_install_takes_the_wheelhouse_wheels_and_ignores_one_for_another_torch_with_the_reason(tmp_path, published, built):
    """No upstream wheel exists for torch 2.13: the lab's wheelhouse has one, next to one built for torch 2.12."""
    house, _ = published
    src = tmp_path / "src"
    src.mkdir()
    stale = renamed(built["causal"], src, "cu12torch2.12cxx11abiTRUE")
    assert run_cli("publish", str(stale), "--to", str(house)).returncode == 0
    from uv import find_uv_bin

    env = tmp_path / "node-env"
    py = fresh_venv(env)
    subprocess.run([find_uv_bin(), "pip", "install", "-q", "--python", str(py), "--no-index", "--find-links", str(built["house"]), "torch"],
                   check=True, env=isolated_installer_env())
    with StaticServer(house) as srv:
        out = run_cli("install", "--python", str(py), "--wheelhouse", srv.url, "--no-deps", "--json", env=SEAM)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert installed(py, "mamba_ssm") == "2.2.4+cu12torch2.13cxx11abitrue"
    assert installed(py, "causal_conv1d") == "1.5.0.post8+cu12torch2.13cxx11abitrue"
    by_pkg = {s["package"]: s for s in result["sources"]}
    assert by_pkg["mamba_ssm"]["origin"] == "wheelhouse" and by_pkg["mamba_ssm"]["wheelhouse"] == srv.url
    [skipped] = by_pkg["causal_conv1d"]["wheelhouse_skipped"]
    assert (skipped["file"], skipped["wheelhouse"]) == (stale.name, srv.url)
    assert skipped["reason"].startswith("wheel is for torch 2.12, this env has torch 2.13.0")
    assert any(p.startswith("/packages/causal_conv1d-1.5.0.post8%2Bcu12torch2.13") for p in srv.paths)
    assert not any("torch2.12" in p and p.startswith("/packages/") for p in srv.paths)  # the misfit was never downloaded


def test_a_wheelhouse_file_changed_after_publishing_is_refused(tmp_path, published, built):
    house, _ = published
    target = house / "packages" / built["causal"].name
    target.write_bytes(target.read_bytes()[:-10] + b"\0" * 10)  # the fault: bytes no longer match the index's sha256
    args = ["download", "--package", "causal_conv1d", "--dest", str(tmp_path / "got"), "--python", str(ensure_torch_venv()), "--json"]
    with StaticServer(house) as srv:
        out = run_cli(*args, "--wheelhouse", srv.url, env=SEAM)
        asked = list(srv.paths)
    assert out.returncode != 0
    assert "sha256" in out.stderr
    assert any(p.startswith("/packages/causal_conv1d") for p in asked)  # it was fetched, then refused
    assert not (tmp_path / "got" / built["causal"].name).exists()
    local = run_cli(*args, "--wheelhouse", house.as_uri(), env=SEAM)
    assert local.returncode != 0 and "sha256" in local.stderr


def test_download_from_a_local_wheelhouse_says_where_the_file_came_from(tmp_path, published, built):
    house, _ = published
    out = run_cli("download", "--dest", str(tmp_path / "got"), "--python", str(ensure_torch_venv()), "--wheelhouse", str(house), "--json", env=SEAM)
    assert out.returncode == 0, out.stderr
    files = json.loads(out.stdout)["files"]
    assert [f["origin"] for f in files] == ["wheelhouse", "wheelhouse"]
    assert {f["wheelhouse"] for f in files} == {str(house)}
    for f in files:
        assert hashlib.sha256(Path(f["file"]).read_bytes()).hexdigest() == f["sha256"]


def test_the_config_file_names_wheelhouses_too(tmp_path, published):
    house, _ = published
    Path(os.environ["MAMBAENV_CONFIG"]).write_text(json.dumps({"wheelhouses": [str(house)]}))
    out = run_cli("resolve", "--package", "causal_conv1d", "--torch", "2.13.0", *FACTS, "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["packages"][0]["wheelhouse"] == str(house)


def test_publish_a_bundle_puts_its_dependency_wheels_in_the_index_too(tmp_path, built):
    bundle = tmp_path / "b.tar"
    made = run_cli("bundle", "-o", str(bundle), "--python", "3.11", "--torch", "2.13.0", "--torch-cuda", "12.8", "--cxx11abi", "true",
                   "--wheel", str(built["causal"]), "--index-url", "none", "--find-links", str(built["house"]), "--offline-catalog", "--json")
    assert made.returncode == 0, made.stderr
    out = run_cli("publish", str(bundle), "--to", str(tmp_path / "house"), "--json")
    assert out.returncode == 0, out.stderr
    projects = json.loads(out.stdout)["projects"]
    assert "causal-conv1d" in projects and "packaging" in projects


def test_an_unreachable_wheelhouse_is_reported_and_the_catalog_still_answers():
    out = run_cli("resolve", "--package", "mamba_ssm", "--torch", "2.6.0", *FACTS, "--wheelhouse", "http://127.0.0.1:9/", "--json")
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)["packages"][0]
    assert got["url"].startswith("https://github.com/")
    assert got["wheelhouse_errors"] and "cannot read wheelhouse http://127.0.0.1:9/" in got["wheelhouse_errors"][0]


def test_doctor_and_bundle_take_their_wheels_from_the_wheelhouse(tmp_path, published, built):
    house, _ = published
    doc = run_cli("doctor", "--python", str(ensure_torch_venv()), "--wheelhouse", str(house), "--offline", "--json", env=SEAM)
    assert doc.returncode in (0, 1), doc.stderr  # no GPU here: "no working path" is the honest verdict
    assert [(p["origin"], p["wheelhouse"]) for p in json.loads(doc.stdout)["packages"]] == [("wheelhouse", str(house))] * 2

    out = run_cli("bundle", "-o", str(tmp_path / "b.tar"), "--python", "3.11", "--torch", "2.13.0", "--torch-cuda", "12.8", "--cxx11abi", "true",
                  "--wheelhouse", str(house), "--index-url", "none", "--find-links", str(built["house"]), "--offline-catalog", "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert sorted(result["packages"]) == sorted([built["mamba"].name, built["causal"].name])
    assert {s["origin"] for s in result["sources"]} == {"wheelhouse"}


def test_docker_build_takes_the_image_wheels_from_the_wheelhouse(tmp_path, published, built):
    """The image's facts come from probing it (needs Docker and a torch image); here they are given, the choice is the same code."""
    from mambaenv.commands.containers import _wheels_for_image
    from mambaenv.facts import TargetEnv

    house, _ = published
    image_facts = TargetEnv(python=f"{sys.version_info[0]}.{sys.version_info[1]}", torch="2.13.0", torch_cuda="12.8", cxx11_abi=True)
    sources = []
    paths = _wheels_for_image(image_facts, tmp_path / "ctx", True, [str(house)], sources)
    assert sorted(p.name for p in paths) == sorted([built["mamba"].name, built["causal"].name])
    assert [s["origin"] for s in sources] == ["wheelhouse", "wheelhouse"]


def test_a_hostile_index_cannot_name_a_file_outside_the_destination(tmp_path, built):
    """An index link that decodes to ../../ is not listed at all: nothing is fetched, nothing lands outside --dest."""
    from tests.httpserver import LoopbackServer, Route

    evil = built["causal"].name.replace("1.5.0.post8", "..%2F..%2Fescaped")
    with LoopbackServer() as srv:
        srv.add("/simple/causal-conv1d/", Route(body=f'<a href="/f/{evil}">{evil}</a>'.encode(), content_type="text/html"))
        srv.add(f"/f/{evil}", Route(body=built["causal"].read_bytes()))
        out = run_cli("download", "--package", "causal_conv1d", "--dest", str(tmp_path / "a" / "b"), "--python", str(ensure_torch_venv()),
                      "--wheelhouse", srv.url("/simple/"), "--json", env=SEAM)
        asked = [path for _, path, _ in srv.requests]
    assert "/simple/causal-conv1d/" in asked  # the index was read
    assert out.returncode != 0 and "no prebuilt causal_conv1d wheel fits" in out.stderr  # and its only link refused
    assert not any("escaped" in p for p in asked)
    assert not list(tmp_path.rglob("*escaped*"))


NVIDIA_SMI_H200 = """#!/bin/sh
# stand-in for nvidia-smi (no GPU here): the answer an H200 node gives to mambaenv's query
echo "NVIDIA H200, 9.0, 143771, 570.86.15"
"""


def test_a_build_for_another_gpu_architecture_is_skipped_on_this_gpu(tmp_path, built):
    """publish --gpu-arch records what a build was compiled for; a node whose GPU cannot run it passes it over, saying why."""
    house = tmp_path / "house"
    assert run_cli("publish", str(built["mamba"]), "--gpu-arch", "8.0", "--to", str(house)).returncode == 0
    assert run_cli("publish", str(built["causal"]), "--gpu-arch", "9.0", "--to", str(house)).returncode == 0
    page = (house / "simple" / "mamba-ssm" / "index.html").read_text()
    assert 'data-gpu-archs="8.0"' in page
    assert json.loads((house / "simple" / "causal-conv1d" / "index.json").read_text())["files"][0]["_gpu_archs"] == ["9.0"]

    seam_bin = tmp_path / "bin"
    seam_bin.mkdir()
    (seam_bin / "nvidia-smi").write_text(NVIDIA_SMI_H200)
    (seam_bin / "nvidia-smi").chmod(0o755)
    env = dict(SEAM, PATH=f"{seam_bin}:{os.environ['PATH']}")
    with StaticServer(house) as srv:
        out = run_cli("resolve", "--python", str(ensure_torch_venv()), "--wheelhouse", srv.url, "--json", env=env)
    got = {p["package"]: p for p in json.loads(out.stdout)["packages"]}
    assert got["causal_conv1d"]["origin"] == "wheelhouse"
    assert got["mamba_ssm"]["origin"] != "wheelhouse"
    assert got["mamba_ssm"]["wheelhouse_skipped"][0]["reason"] == \
        "wheel carries GPU code for sm_80 only, which does not run on sm_90; build for your GPU"
    bad = run_cli("publish", str(built["mamba"]), "--gpu-arch", "sm90", "--to", str(house))
    assert bad.returncode == 2 and "--gpu-arch 9.0" in bad.stderr


def test_an_index_that_answers_pep691_json_is_read_as_json(tmp_path, published, built):
    """A server that negotiates (as PyPI-like servers do) answers the JSON Accept type; the links and hashes come from it."""
    from mambaenv.wheelhouse import JSON_TYPE, list_wheels
    from tests.httpserver import LoopbackServer, Route

    house, _ = published
    doc = json.loads((house / "simple" / "causal-conv1d" / "index.json").read_text())
    with LoopbackServer() as srv:
        srv.add("/simple/causal-conv1d/", Route(body=json.dumps(doc).encode(), content_type=JSON_TYPE))
        [c] = list_wheels(srv.url("/simple/"), "causal_conv1d")
        accept = srv.requests[0][2].get("Accept", "")
    assert accept.startswith(JSON_TYPE)
    assert c.filename == built["causal"].name and c.sha256 == doc["files"][0]["hashes"]["sha256"]
    assert c.url == srv.url("/packages/" + built["causal"].name.replace("+", "%2B"))


def test_a_wheel_copied_in_by_hand_is_indexed_by_the_next_publish(tmp_path, published, built):
    house, _ = published
    by_hand = write_wheel(house / "packages", "handmade-1.0-py3-none-any.whl")
    assert not (house / "simple" / "handmade").exists()
    out = run_cli("publish", str(built["einops"]), "--to", str(house), "--json")  # nothing new in this call
    assert out.returncode == 0, out.stderr
    [c] = parse_simple_html((house / "simple" / "handmade" / "index.html").read_text(), house.as_uri() + "/simple/handmade/", "x")
    assert c.sha256 == hashlib.sha256(by_hand.read_bytes()).hexdigest()
