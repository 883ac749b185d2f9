"""The catalog against real asset lists: listed tags exactly, no ghosts, sha256, the GPUs each wheel runs on."""
import base64
import json
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

from mambaenv import compat
from mambaenv.catalog import archs_for_toolkit, load_catalog, wheels_of
from mambaenv.facts import TargetEnv
from mambaenv.resolve import resolve_package
from tests.conftest import run_cli

CAT = load_catalog(offline=True)
LISTS = json.loads(resources.files("mambaenv.catalog").joinpath("data/asset-lists.json").read_text())
ROOT = Path(__file__).resolve().parent.parent

# The eleven tags whose complete asset lists are public (sirati/nix-torch-bin-pascal binary-hashes/v*.nix; v1.6.2.nix,
# which holds tag v1.6.2.post1's files, from a commit newer than the git copy read here).
LISTED = [("mamba_ssm", t) for t in ("v2.2.5", "v2.2.6.post3", "v2.3.0", "v2.3.1")] + [
    ("causal_conv1d", t) for t in ("v1.5.1", "v1.5.2", "v1.5.3.post2", "v1.5.4", "v1.6.0", "v1.6.1.post4", "v1.6.2.post1")]


def env(python="3.10", torch="2.1.2", cuda="12.1", abi=False, **kw):
    return TargetEnv(python=python, torch=torch, torch_cuda=cuda, cxx11_abi=abi, **kw)


def test_the_shipped_lists_are_the_eleven_public_tags():
    shipped = sorted((p, t) for p, tags in LISTS["packages"].items() for t in tags)
    assert shipped == sorted(LISTED)
    assert LISTS["source"]["repo"] == "sirati/nix-torch-bin-pascal" and len(LISTS["source"]["commit"]) == 40
    later = LISTS["source"]["later"]
    assert later == [{"path": "pkgs/causal-conv1d/binary-hashes/v1.6.2.nix", "commit": "6f1fb65c8583aefc5aa6756b1cd05006c5b6573b",
                      "tags": ["v1.6.2.post1"]}]


def test_causal_conv1d_v1_6_2_post1_is_its_public_list_and_the_tags_the_git_copy_lacks_say_how_they_are_known():
    listed = CAT.find("causal_conv1d", "v1.6.2.post1")
    files = wheels_of(listed)
    assert len(files) == 80 and all(w.sha256 and w.source == "listed" and w.version == "1.6.2.post1" for w in files)
    # from the list: pkgs/causal-conv1d/binary-hashes/v1.6.2.nix, hash sha256-llyCEEwm...
    first = next(w for w in files if w.filename == "causal_conv1d-1.6.2.post1+cu11torch2.6cxx11abiTRUE-cp310-cp310-linux_x86_64.whl")
    assert first.sha256 == base64.b64decode("llyCEEwmtPmxP820Dvh5XJw5UL4W4mp3l00w2+26x10=").hex()
    assert listed.record["list_diff"] == {"ghosts": [], "unpredicted": sorted(w.filename for w in files if w.local.is_ngc)}
    assert "0d2252d" in listed.prediction_note and "causal_conv1d-1.6.2.post1.tar.gz" in listed.prediction_note
    v162, v170 = CAT.find("causal_conv1d", "v1.6.2"), CAT.find("causal_conv1d", "v1.7.0")
    # v1.6.2 holds 1.6.1 files (causal-conv1d#121): a version the listed v1.6.1.post4 carries, so it is looked up there
    assert v162.package_version == "1.6.1" and v162.shadowed_by == "v1.6.1.post4"
    assert "causal_conv1d-1.6.1+cu12torch2.10cxx11abiTRUE-cp312-cp312-linux_x86_64.whl" in {w.filename for w in wheels_of(v162)}
    assert v170.source == "predicted" and v170.date == "2026-08-20" and "an earlier commit" in v170.prediction_note
    assert all(w.version == "1.7.0" and w.sha256 is None for w in wheels_of(v170))


def test_every_release_says_its_python_floor_from_its_setup_py():
    floors = {(p, r.tag): r.python_requires for p in ("mamba_ssm", "causal_conv1d") for r in CAT.for_package(p)}
    assert floors[("mamba_ssm", "v2.2.2")] == ">=3.8" and floors[("mamba_ssm", "v2.3.2.post1")] == ">=3.9"
    assert floors[("causal_conv1d", "v1.4.0")] == ">=3.8" and floors[("causal_conv1d", "v1.7.0")] == ">=3.9"
    assert floors[("causal_conv1d", "v1.2.0")] == ">=3.7"


@pytest.mark.parametrize("package,tag", LISTED)
def test_every_listed_tag_comes_out_exactly_with_its_sha256(package, tag):
    rel = CAT.find(package, tag)
    got = {w.filename: (w.sha256, w.url, w.source) for w in wheels_of(rel)}
    want = {f["name"]: (f["sha256"], f["url"], "listed") for f in LISTS["packages"][package][tag]}
    assert got == want
    assert rel.source == "listed"


def test_sri_hash_becomes_the_hex_digest():
    # from pkgs/mamba-ssm/binary-hashes/v2.3.1.nix
    sri = "dNJO9ijyvHrm1Q46dU9IfAqdJ9BFL51XcuRy6MaM0RU="
    name = "mamba_ssm-2.3.1+cu11torch2.6cxx11abiTRUE-cp310-cp310-linux_x86_64.whl"
    w = next(w for w in wheels_of(CAT.find("mamba_ssm", "v2.3.1")) if w.filename == name)
    assert w.sha256 == base64.b64decode(sri).hex() and len(w.sha256) == 64


def test_hand_uploads_and_ngc_builds_outside_the_workflow_are_listed():
    # torch 2.8 wheels added to v2.2.5 by hand; NGC 25.04-25.09 builds on v2.2.6.post3
    v225 = {w.filename for w in wheels_of(CAT.find("mamba_ssm", "v2.2.5"))}
    assert "mamba_ssm-2.2.5+cu12torch2.8cxx11abiTRUE-cp312-cp312-linux_x86_64.whl" in v225
    choice = resolve_package(CAT, "mamba_ssm", env("3.12", "2.8.0+cu128", "12.8", True), "2.2.5")
    assert choice.wheel.filename == "mamba_ssm-2.2.5+cu12torch2.8cxx11abiTRUE-cp312-cp312-linux_x86_64.whl"
    assert choice.wheel.sha256 and "/download/v2.2.5/" in choice.wheel.url and "listed" in choice.reason


def test_a_ghost_cell_from_the_matrix_is_never_resolved():
    # the workflow lists this cell; its CI job failed and the file does not exist
    ghost = "causal_conv1d-1.5.4+cu12torch2.8cxx11abiFALSE-cp310-cp310-linux_x86_64.whl"
    assert ghost in CAT.find("causal_conv1d", "v1.5.4").record["list_diff"]["ghosts"]
    assert ghost not in {w.filename for w in wheels_of(CAT.find("causal_conv1d", "v1.5.4"))}
    choice = resolve_package(CAT, "causal_conv1d", env("3.10", "2.8.0", "12.8", False), "1.5.4")
    assert choice.wheel is None


def test_torch_29_cu12_cells_whose_workflow_pulled_a_cuda_13_torch_never_built():
    # v1.6.0's table picks cu130 torch 2.9 for any CUDA >= 12, next to a 12.9 toolkit: the build refused
    rel = CAT.find("causal_conv1d", "v1.6.0")
    assert not any("+cu12torch2.9" in w.filename for w in wheels_of(rel))
    assert any("cannot compile" in why and c["torch"].startswith("2.9") for c, why in rel.skipped_cells)
    # and the workflow reading agrees with the real list everywhere but one failed job
    ghosts = {t: CAT.find(p, t).record["list_diff"]["ghosts"] for p, t in LISTED}
    assert sum(len(g) for g in ghosts.values()) == 1


def test_aarch64_never_pairs_with_cuda_11():
    for r in CAT.for_package("mamba_ssm") + CAT.for_package("causal_conv1d"):
        assert not any(w.machine == "aarch64" and w.local.cuda_major == 11 for w in wheels_of(r)), r.tag


def test_a_version_carried_by_several_tags_points_at_a_tag_that_holds_the_file():
    choice = resolve_package(CAT, "causal_conv1d", env("3.12", "2.8.0", "12.8", True), "1.6.1")
    assert choice.wheel.tag == "v1.6.1.post4" and "/download/v1.6.1.post4/" in choice.wheel.url
    assert choice.wheel.source == "listed"
    # unpinned: never sent to a predicted v1.6.1..post3 copy of a version the listed post4 carries
    for e in (env("3.12", "2.8.0", "12.8", True), env("3.10", "2.6.0", "11.8", False), env("3.13", "2.10.0", "13.0", True)):
        c = resolve_package(CAT, "causal_conv1d", e)
        assert c.wheel is None or c.wheel.tag not in ("v1.6.1", "v1.6.1.post1", "v1.6.1.post2", "v1.6.1.post3")


def test_package_version_is_the_version_in_the_file_name():
    out = run_cli("resolve", "--offline", "--json", "--package", "mamba_ssm", "--package-version", "2.3.2",
                  "--python", "3.12", "--torch", "2.8.0", "--torch-cuda", "12.8", "--cxx11abi", "true")
    assert out.returncode == 1
    p = json.loads(out.stdout)["packages"][0]
    assert p["file"] is None and "no mamba_ssm file carries version 2.3.2" in p["reason"] and "2.3.1" in p["reason"]
    assert p["alternatives"][0]["command"] == "--package-version 2.3.1"
    ok = resolve_package(CAT, "mamba_ssm", env("3.12", "2.8.0", "12.8", True), "2.3.1")
    assert ok.wheel.tag == "v2.3.1" and ok.wheel.source == "listed"


def test_resolve_json_returns_the_sha256_and_says_when_only_predicted():
    out = run_cli("resolve", "--offline", "--json", "--package", "mamba_ssm", "--python", "3.12", "--torch", "2.8.0",
                  "--torch-cuda", "12.8", "--cxx11abi", "true")
    p = json.loads(out.stdout)["packages"][0]
    assert p["tag"] == "v2.3.2.post1" and p["source"] == "predicted" and "only predicted" in p["reason"]
    assert p["sha256"] is None
    listed = run_cli("resolve", "--offline", "--json", "--package", "mamba_ssm", "--package-version", "2.3.1", "--python",
                     "3.12", "--torch", "2.8.0", "--torch-cuda", "12.8", "--cxx11abi", "true")
    q = json.loads(listed.stdout)["packages"][0]
    assert len(q["sha256"]) == 64 and q["source"] == "listed" and q["archs"] and q["cuda_toolkit"] == "12.9.1"


# --- GPU architectures ---------------------------------------------------------------------------

def test_sass_runs_on_the_same_major_with_an_equal_or_higher_minor():
    assert compat.sass_runs_on(80, 86) and compat.sass_runs_on(80, 89)
    assert not compat.sass_runs_on(90, 100) and not compat.sass_runs_on(90, 120) and not compat.sass_runs_on(86, 80)
    assert compat.sm("12.0") == 120 and compat.sm("sm_121") == 121 and compat.sm("8.6") == 86


def test_arch_lists_follow_the_toolkit_conditions_in_setup_py():
    rules = CAT.find("mamba_ssm", "v2.3.1").record["arch_rules"]
    assert 120 not in archs_for_toolkit(rules, "12.4") and 100 not in archs_for_toolkit(rules, "12.4")
    assert {100, 120} <= set(archs_for_toolkit(rules, "12.8")) and 121 not in archs_for_toolkit(rules, "12.9.1")
    assert {103, 110, 121} <= set(archs_for_toolkit(rules, "13.0.1")) and 70 not in archs_for_toolkit(rules, "13.0.1")
    v225 = CAT.find("mamba_ssm", "v2.2.5").record["arch_rules"]
    assert 100 in archs_for_toolkit(v225, "12.9.1") and 120 not in archs_for_toolkit(v225, "12.9.1")


def test_a_cu12_wheel_from_an_old_toolkit_is_refused_for_sm_120_and_a_128_one_accepted():
    rtx5090 = env("3.11", "2.4.0", "12.4", False, gpu_caps=("12.0",))
    old = resolve_package(CAT, "mamba_ssm", rtx5090, "2.2.4")  # built with toolkit 12.3.2
    assert old.wheel is None and "sm_120" in old.reason and "build for your GPU" in old.reason
    assert old.alternatives[0].kind == "build"
    new = resolve_package(CAT, "mamba_ssm", rtx5090)
    assert new.wheel is not None and 120 in new.wheel.archs and new.wheel.cuda_toolkit >= "12.8"
    assert "runs on sm_120" in new.reason


@pytest.mark.parametrize("cap,ok", [("12.0", True), ("10.0", True), ("12.1", True), ("6.0", True), ("7.0", True),
                                    ("10.3", True), ("11.0", False)])
def test_gpus_get_the_truth_before_downloading(cap, ok):
    # torch 2.8 cu12 (toolkit 12.9): sm_53..sm_72 + sm_75..sm_90 + sm_100/sm_120; sm_110 only from 13.0
    e = env("3.12", "2.8.0", "12.8", True, gpu_caps=(cap,))
    c = resolve_package(CAT, "mamba_ssm", e, "2.3.1")
    if cap == "6.0":  # P100: no sm_60 code; sm_53 is another major
        assert c.wheel is None and "sm_60" in c.reason
    elif ok:
        assert c.wheel is not None, c.reason
    else:
        assert c.wheel is None and "sm_110" in c.reason


def test_user_story_wheel_is_unchanged():
    story = env(python="3.8", torch="2.0.0", cuda="11.8", abi=False)
    choice = resolve_package(CAT, "mamba_ssm", story, "2.2.2")
    assert choice.wheel.filename == "mamba_ssm-2.2.2+cu118torch2.0cxx11abiFALSE-cp38-cp38-linux_x86_64.whl"


# --- catalog wheels ------------------------------------------------------------------------------

def test_catalog_wheels_json_shape():
    out = run_cli("catalog", "wheels", "--package", "causal_conv1d", "--tag", "v1.6.1.post4", "--offline", "--json")
    assert out.returncode == 0, out.stderr
    wheels = json.loads(out.stdout)["wheels"]
    assert len(wheels) == len(LISTS["packages"]["causal_conv1d"]["v1.6.1.post4"])
    for w in wheels:
        assert set(w) == {"package", "tag", "version", "file", "url", "size", "sha256", "source", "cuda_toolkit", "archs"}
        assert w["tag"] == "v1.6.1.post4" and w["source"] == "listed" and len(w["sha256"]) == 64
    predicted = json.loads(run_cli("catalog", "wheels", "--package", "mamba_ssm", "--tag", "v2.2.2", "--offline", "--json").stdout)
    assert predicted["wheels"] and all(w["sha256"] is None and w["source"] == "predicted" for w in predicted["wheels"])


def test_catalog_wheels_refuses_an_unknown_tag_in_one_line():
    out = run_cli("catalog", "wheels", "--package", "mamba_ssm", "--tag", "v9.9", "--offline", "--json")
    assert out.returncode == 2 and "unknown mamba_ssm tag" in out.stderr


# --- the maintainer script reproduces the shipped data ---------------------------------------------

MIRRORS = {k: Path(f"/work/.mirror/{v}/repo") for k, v in {
    "mamba": "state-spaces+mamba", "causal": "Dao-AILab+causal-conv1d", "lists": "sirati+nix-torch-bin-pascal"}.items()}


@pytest.mark.skipif(not all(p.is_dir() for p in MIRRORS.values()) or shutil.which("git") is None,
                    reason="needs local git copies of the upstream repositories")
def test_regen_reproduces_the_shipped_catalog(tmp_path):
    """The tags newer than the git copies come from PyPI's sdists (fixtures) and the later list kept in asset-lists.json."""
    pytest.importorskip("yaml")
    from tests.fixture_builders import SDISTS

    if not all((SDISTS / f).exists() for f in ("causal_conv1d-1.6.2.post1.tar.gz", "causal_conv1d-1.7.0.tar.gz")):
        pytest.skip("needs the sdist fixtures (tools/fetch_fixtures.py)")
    out = tmp_path / "releases.json"
    shutil.copy(ROOT / "mambaenv/catalog/data/asset-lists.json", tmp_path)  # its later lists are carried over
    subprocess.run([sys.executable, str(ROOT / "tools/regen_catalog.py"), "--mamba", str(MIRRORS["mamba"]), "--causal",
                    str(MIRRORS["causal"]), "--lists", str(MIRRORS["lists"]), "--sdists", str(SDISTS), "--out", str(out)],
                   check=True, capture_output=True)
    data = ROOT / "mambaenv/catalog/data"
    assert out.read_bytes() == (data / "releases.json").read_bytes()
    assert (tmp_path / "asset-lists.json").read_bytes() == (data / "asset-lists.json").read_bytes()


# --- doctor: the truth per chosen wheel, before downloading --------------------------------------

def plans_for(target):
    """The planner's answer for explicit facts (the shipped catalog, no wheelhouse, no cache)."""
    from mambaenv.plan import PlanRequest, plan
    from mambaenv.target import Target

    return plan(PlanRequest(Target(target), offline=True)).packages


@pytest.mark.parametrize("gpu,cap,torch,cuda,status", [
    ("NVIDIA GeForce RTX 5090", "12.0", "2.8.0+cu128", "12.8", "pass"),
    ("NVIDIA B200", "10.0", "2.8.0+cu128", "12.8", "pass"),
    ("NVIDIA GB10", "12.1", "2.9.1+cu130", "13.0", "pass"),
    ("Tesla P100-PCIE-16GB", "6.0", "2.8.0+cu128", "12.8", "fail"),
    ("Tesla V100-SXM2-32GB", "7.0", "2.8.0+cu128", "12.8", "pass"),  # toolkit 12.9 still builds sm_70
    ("Tesla V100-SXM2-32GB", "7.0", "2.9.1+cu130", "13.0", "fail"),  # toolkit 13.0 dropped it
])
def test_doctor_gpu_arch_check_is_per_chosen_wheel(gpu, cap, torch, cuda, status):
    from mambaenv.detect.host import Gpu
    from mambaenv.doctor import gpu_arch_checks

    choices = plans_for(env("3.12", torch, cuda, True, gpu_caps=(cap,)))
    checks = gpu_arch_checks([Gpu(gpu, cap)], choices)
    assert [c.name for c in checks] == ["gpu-arch:mamba_ssm", "gpu-arch:causal_conv1d"]
    assert {c.status for c in checks} == {status}, [c.detail for c in checks]
    if status == "fail":
        assert f"sm_{cap.replace('.', '')}" in checks[0].detail and "mambaenv build" in checks[0].fix
    else:
        assert gpu in checks[0].detail and checks[0].detail.startswith(choices[0].chosen.filename)


def test_a_mirror_whose_bytes_differ_from_the_listed_sha256_is_refused(tmp_path, monkeypatch):
    from urllib.parse import unquote, urlparse

    from mambaenv.download import fetch_to
    from mambaenv.errors import DownloadError
    from tests.httpserver import LoopbackServer, Route
    from tests.wheels import wheel_bytes

    monkeypatch.setenv("MAMBAENV_MIRROR_ONLY", "1")  # never fall through to GitHub from a test
    choice = resolve_package(CAT, "mamba_ssm", env("3.12", "2.8.0", "12.8", True), "2.3.1")
    assert choice.wheel.sha256
    with LoopbackServer() as srv:
        path = urlparse(choice.wheel.url).path
        body = wheel_bytes("mamba_ssm", "2.3.1", payload_size=64 * 1024)  # a whole wheel, but not upstream's bytes
        for p in {path, unquote(path)}:
            srv.add(p, Route(body=body))
        with pytest.raises(DownloadError) as err:
            fetch_to(choice.wheel.url, tmp_path / "dest", sha256=choice.wheel.sha256, size=choice.wheel.size,
                     mirrors=[srv.base + "/{path}"])
        assert srv.requests, "the mirror was never asked"
    msg = err.value.one_line()
    assert "sha256 mismatch" in msg and "127.0.0.1" in msg and "\n" not in msg
    assert not (tmp_path / "dest").exists() or not any((tmp_path / "dest").iterdir())


# --- a catalog that knows it is behind -------------------------------------------------------------

def simple_page(name: str, versions: list[str]) -> bytes:
    links = "".join(f'<a href="../../files/{name}-{v}.tar.gz#sha256=00">{name}-{v}.tar.gz</a><br/>' for v in versions)
    return f"<!DOCTYPE html><html><body>{links}</body></html>".encode()


@pytest.fixture
def index_and_mirror(monkeypatch):
    from tests.httpserver import LoopbackServer, Route

    with LoopbackServer() as srv:
        srv.add("/simple/mamba-ssm/", Route(body=simple_page("mamba_ssm", ["2.2.2", "2.3.1", "2.3.2.post1"]), content_type="text/html"))
        srv.add("/simple/causal-conv1d/", Route(body=simple_page("causal_conv1d", ["1.6.1", "1.7.0", "1.7.1"]), content_type="text/html"))
        monkeypatch.setenv("MAMBAENV_INDEX_URL", srv.base + "/simple/")
        monkeypatch.setenv("MAMBAENV_MIRROR", srv.base + "/{path}")
        monkeypatch.setenv("MAMBAENV_MIRROR_ONLY", "1")  # the HEAD probes stay on 127.0.0.1
        yield srv


def test_resolve_says_the_catalog_is_behind_and_offers_a_probed_file_only_when_it_exists(index_and_mirror):
    from tests.httpserver import Route

    srv = index_and_mirror
    args = ("resolve", "--json", "--python", "3.12", "--torch", "2.8.0", "--torch-cuda", "12.8", "--cxx11abi", "true")
    first = json.loads(run_cli(*args).stdout)
    behind = {c["package"]: c for c in first["catalog"]}
    assert behind["causal_conv1d"]["newer"] == ["1.7.1"] and "catalog refresh" in behind["causal_conv1d"]["message"]
    assert behind["mamba_ssm"]["newer"] == [] and behind["mamba_ssm"]["message"] is None
    causal = first["packages"][1]
    assert causal["source"] != "probed"  # nothing at the guessed URLs yet: never offered
    heads = [p for m, p, _ in srv.requests if m == "HEAD"]
    assert any("v1.7.1/causal_conv1d-1.7.1" in p for p in heads)

    path = "/Dao-AILab/causal-conv1d/releases/download/v1.7.1/causal_conv1d-1.7.1%2Bcu12torch2.8cxx11abiTRUE-cp312-cp312-linux_x86_64.whl"
    srv.add(path, Route(body=b"PK"))
    srv.add(path.replace("%2B", "+"), Route(body=b"PK"))
    second = json.loads(run_cli(*args).stdout)["packages"][1]
    assert second["source"] == "probed" and second["tag"] == "v1.7.1" and second["sha256"] is None
    assert second["url"].startswith("https://github.com/Dao-AILab/causal-conv1d/releases/download/v1.7.1/")
    assert "newer than the catalog" in second["reason"]


def test_offline_resolve_never_asks_the_index(index_and_mirror):
    out = run_cli("resolve", "--offline", "--json", "--python", "3.12", "--torch", "2.8.0", "--torch-cuda", "12.8", "--cxx11abi", "true")
    assert json.loads(out.stdout)["catalog"] == [] and index_and_mirror.requests == []


def test_doctor_says_the_catalog_is_behind(index_and_mirror, torch_venv):
    out = run_cli("doctor", "--python", str(torch_venv), "--json")
    checks = {c["name"]: c for c in json.loads(out.stdout)["checks"]}
    assert checks["catalog:causal_conv1d"]["status"] == "warn" and "1.7.1" in checks["catalog:causal_conv1d"]["detail"]
    assert checks["catalog:causal_conv1d"]["fix"] == "mambaenv catalog refresh"
    assert checks["catalog:mamba_ssm"]["status"] == "pass"


def test_install_refuses_a_listed_wheel_whose_bytes_are_not_githubs(tmp_path, torch_venv):
    from tests.wheels import wheel_bytes

    name = "mamba_ssm-2.3.1+cu12torch2.8cxx11abiTRUE-cp312-cp312-linux_x86_64.whl"
    fake = tmp_path / name
    fake.write_bytes(wheel_bytes("mamba_ssm", "2.3.1", payload_size=16 * 1024))
    out = run_cli("install", "--offline-wheel", str(fake), "--python", str(torch_venv), "--no-deps", "--json")
    assert out.returncode != 0
    err = out.stderr.strip().splitlines()
    assert len(err) == 1 and "not the file GitHub serves" in err[0] and "sha256" in err[0]


def test_download_of_a_catalog_url_checks_the_listed_sha256_without_being_told(tmp_path):
    from urllib.parse import unquote, urlparse

    from tests.httpserver import LoopbackServer, Route
    from tests.wheels import wheel_bytes

    url = ("https://github.com/state-spaces/mamba/releases/download/v2.3.1/"
           "mamba_ssm-2.3.1%2Bcu12torch2.8cxx11abiTRUE-cp312-cp312-linux_x86_64.whl")
    with LoopbackServer() as srv:
        for p in {urlparse(url).path, unquote(urlparse(url).path)}:
            srv.add(p, Route(body=wheel_bytes("mamba_ssm", "2.3.1", payload_size=16 * 1024)))
        out = run_cli("download", "--url", url, "--dest", str(tmp_path / "d"), "--mirror", srv.base + "/{path}", "--json",
                      env={"MAMBAENV_MIRROR_ONLY": "1"})
        assert srv.requests
    assert out.returncode != 0
    err = out.stderr.strip().splitlines()
    assert len(err) == 1 and "sha256 mismatch" in err[0] and "127.0.0.1" in err[0]
    assert not (tmp_path / "d").exists() or not any((tmp_path / "d").iterdir())


def test_bundle_refuses_a_listed_wheel_whose_bytes_are_not_githubs(tmp_path):
    from tests.wheels import wheel_bytes

    fake = tmp_path / "mamba_ssm-2.3.1+cu12torch2.8cxx11abiTRUE-cp312-cp312-linux_x86_64.whl"
    fake.write_bytes(wheel_bytes("mamba_ssm", "2.3.1", payload_size=16 * 1024))
    out = run_cli("bundle", "-o", str(tmp_path / "b.tar"), "--python", "3.12", "--torch", "2.8.0", "--torch-cuda", "12.8",
                  "--cxx11abi", "true", "--wheel", str(fake), "--index-url", "none")
    assert out.returncode != 0 and "not the file GitHub serves" in out.stderr
    assert not (tmp_path / "b.tar").exists()


def test_a_file_the_listed_tag_lacks_is_not_taken_from_a_predicted_copy_of_the_same_version():
    from mambaenv.wheelname import parse_wheel_filename

    # causal 1.6.1: v1.6.1..post3 are predicted, post4 is listed; a cell post4 lacks must not come from post1-3
    listed = {w.filename for w in wheels_of(CAT.find("causal_conv1d", "v1.6.1.post4"))}
    extra = sorted({w.filename for w in wheels_of(CAT.find("causal_conv1d", "v1.6.1.post2"))} - listed)
    assert extra  # post2's matrix names files post4 does not carry
    n = parse_wheel_filename(extra[0])
    e = env(n.python_version, f"{n.local.torch}.0", f"{n.local.cuda_major}.8", n.local.cxx11_abi, machine=n.machine)
    choice = resolve_package(CAT, "causal_conv1d", e, "1.6.1")
    assert choice.wheel is None or choice.wheel.tag == "v1.6.1.post4"
    # naming the tag itself still gets its prediction, said as such
    pinned = resolve_package(CAT, "causal_conv1d", e, "v1.6.1.post2")
    assert pinned.wheel.filename == n.filename and pinned.wheel.source == "predicted" and "only predicted" in pinned.reason


def test_a_gpu_without_prebuilt_code_still_has_a_path_through_a_local_build():
    from mambaenv.detect.host import Gpu
    from mambaenv.doctor import gpu_arch_checks, has_working_path
    from mambaenv.facts import Check

    choices = plans_for(env("3.12", "2.9.1+cu130", "13.0", True, gpu_caps=("7.0",)))
    checks = gpu_arch_checks([Gpu("Tesla V100-SXM2-32GB", "7.0")], choices)
    assert all(c.status == "fail" for c in checks)
    assert not has_working_path(checks, choices)
    assert has_working_path(checks + [Check("nvcc", "pass", "nvcc 13.0")], choices)
