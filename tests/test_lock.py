"""lock: what it writes is installed for real by pip, uv and conda's pip step, from servers on 127.0.0.1; what it refuses."""
import hashlib
import json
import subprocess
import sys
from urllib.parse import unquote

import pytest
import tomllib
import yaml

from mambaenv import lock
from tests.conftest import run_cli
from tests.fixture_builders import fixture_wheel, wheelhouse
from tests.httpserver import LoopbackServer, Route
from tests.test_wheelhouse import StaticServer, fresh_venv, installed, isolated_installer_env

# The fixture wheels claim cu12torch2.13cxx11abiTRUE for this interpreter's Python: these facts pick them.
PY = f"{sys.version_info[0]}.{sys.version_info[1]}"
FACTS = ["--python", PY, "--torch", "2.13.0", "--torch-cuda", "12.8", "--cxx11abi", "true"]
DEPENDENCIES = ["torch", "einops", "transformers", "ninja", "packaging", "setuptools"]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def wheels():
    return {"mamba_ssm": fixture_wheel("mamba_ssm", "2.2.4"), "causal_conv1d": fixture_wheel("causal_conv1d", "1.5.0.post8"),
            "house": wheelhouse()}


def env_with_dependencies(path, wheels):
    """A fresh venv holding torch and the packages' dependencies (pip's hash mode hashes whatever it downloads)."""
    from uv import find_uv_bin

    py = fresh_venv(path)
    subprocess.run([find_uv_bin(), "pip", "install", "-q", "--python", str(py), "--no-index", "--find-links", str(wheels["house"]),
                    *DEPENDENCIES], check=True, env=isolated_installer_env())
    return py


def installed_from(py) -> dict:
    """The URL each package was installed from, as pip recorded it (direct_url.json, PEP 610)."""
    code = ("import importlib.metadata as m, json\n"
            "print(json.dumps({p: json.loads(m.distribution(p).read_text('direct_url.json'))['url'] for p in ('mamba_ssm', 'causal_conv1d')}))")
    return json.loads(subprocess.run([str(py), "-c", code], capture_output=True, text=True, check=True).stdout)


def pip(py, *args):
    return subprocess.run([str(py), "-m", "pip", "install", "--no-index", "--no-cache-dir", *args], capture_output=True, text=True,
                          env=isolated_installer_env())


@pytest.fixture
def github(wheels):
    """A loopback server standing in for GitHub: its API lists both releases, with a digest for causal_conv1d only,
    and serves the files; ``catalog refresh`` has read it, so the catalog's URLs are this server's."""
    assets = {"mamba_ssm": ("state-spaces/mamba", "v2.2.4", False), "causal_conv1d": ("Dao-AILab/causal-conv1d", "v1.5.0.post8", True)}
    with LoopbackServer() as srv:
        for package, (repo, tag, with_digest) in assets.items():
            data = wheels[package].read_bytes()
            path = f"/dl/{tag}/{wheels[package].name.replace('+', '%2B')}"
            srv.add(path, Route(body=data))
            asset = {"name": wheels[package].name, "size": len(data), "browser_download_url": srv.url(path)}
            if with_digest:
                asset["digest"] = "sha256:" + sha(data)
            srv.add(f"/repos/{repo}/releases", Route(json_body=[{"tag_name": tag, "assets": [asset]}]))
        refreshed = run_cli("catalog", "refresh", "--api", srv.base)
        assert refreshed.returncode == 0, refreshed.stderr
        yield srv


@pytest.mark.slow
def test_pip_require_hashes_installs_what_lock_wrote_and_refuses_a_tampered_byte(tmp_path, wheels, github):
    req = tmp_path / "requirements.txt"
    out = run_cli("lock", "--format", "requirements", *FACTS, "--output", str(req), "--json")
    assert out.returncode == 0, out.stderr
    [target] = json.loads(out.stdout)["targets"]
    got = {w["package"]: w for w in target["wheels"]}
    # mamba_ssm's release lists no digest: lock downloaded it to hash it; causal_conv1d's list gave its sha256
    assert got["mamba_ssm"]["hashed"] == "download" and got["causal_conv1d"]["hashed"] == "catalog"
    for package in ("mamba_ssm", "causal_conv1d"):
        assert f"--hash=sha256:{sha(wheels[package].read_bytes())}" in req.read_text()
    mamba_path = next(p for p in github.routes if "mamba_ssm" in p)
    assert github.routes[mamba_path].hits >= 1

    py = env_with_dependencies(tmp_path / "env", wheels)
    good = github.routes[mamba_path].body
    github.routes[mamba_path].body = good[:1000] + bytes([good[1000] ^ 1]) + good[1001:]  # one bit, same length
    refused = pip(py, "--require-hashes", "-r", str(req))
    assert refused.returncode != 0 and "DO NOT MATCH THE HASHES" in refused.stderr
    assert installed(py, "mamba_ssm") is None

    github.routes[mamba_path].body = good
    done = pip(py, "--require-hashes", "-r", str(req))
    assert done.returncode == 0, done.stderr
    assert installed_from(py) == {"mamba_ssm": github.url(mamba_path), "causal_conv1d": github.url(next(p for p in github.routes if "causal_conv1d" in p))}


@pytest.mark.slow
def test_conda_environment_pip_section_installs_and_its_sha256_fragments_refuse_other_bytes(tmp_path, wheels, github):
    """conda env create hands the pip section to ``pip install -r`` as a requirements file; so does this test."""
    out = run_cli("lock", "--format", "conda", *FACTS)
    assert out.returncode == 0, out.stderr
    doc = yaml.safe_load(out.stdout)
    assert f"python={PY}" in doc["dependencies"] and "pip" in doc["dependencies"]
    [section] = [d["pip"] for d in doc["dependencies"] if isinstance(d, dict)]
    reqs = tmp_path / "condaenv.requirements.txt"
    reqs.write_text("\n".join(section) + "\n")
    py = env_with_dependencies(tmp_path / "env", wheels)
    causal_path = next(p for p in github.routes if "causal_conv1d" in p)
    good = github.routes[causal_path].body
    github.routes[causal_path].body = good[:-100] + bytes([good[-100] ^ 1]) + good[-99:]
    refused = pip(py, "-r", str(reqs))
    assert refused.returncode != 0 and "sha256" in refused.stderr.lower()
    github.routes[causal_path].body = good
    done = pip(py, "-r", str(reqs))
    assert done.returncode == 0, done.stderr
    assert installed_from(py)["causal_conv1d"] == github.url(causal_path)


PYPROJECT = """\
# the lab's model code
[project]
name = "lab-model"
version = "0.1.0"
requires-python = "=={py}.*"
dependencies = [
    "einops",  # tensor reshapes
    "mamba-ssm>=2",
]

[tool.uv]
environments = ["sys_platform == 'linux' and platform_machine == 'x86_64'"]

[[tool.uv.index]]
name = "lab-deps"
url = "{deps}"
format = "flat"
default = true

[tool.ruff]
line-length = 100
"""


@pytest.mark.slow
def test_uv_sync_installs_from_the_pyproject_lock_edited_and_uv_lock_then_refuses_other_bytes(tmp_path, wheels):
    """A lab wheelhouse on 127.0.0.1: lock --write puts its index and the exact versions into pyproject.toml, uv sync
    installs them, uv.lock records the same sha256 the index lists, and a file changed on the server is refused."""
    from uv import find_uv_bin

    house = tmp_path / "lab-wheelhouse"
    assert run_cli("publish", str(wheels["mamba_ssm"]), str(wheels["causal_conv1d"]), "--to", str(house)).returncode == 0
    project = tmp_path / "project"
    project.mkdir()
    before = PYPROJECT.format(py=PY, deps=wheels["house"])
    (project / "pyproject.toml").write_text(before)
    env = dict(isolated_installer_env(), UV_CACHE_DIR=str(tmp_path / "uv-cache"))
    with StaticServer(house) as srv:
        out = run_cli("lock", "--format", "uv", "--write", str(project / "pyproject.toml"), "--wheelhouse", f"{srv.url}/simple/", *FACTS,
                      "--offline", "--json")
        assert out.returncode == 0, out.stderr
        sync = subprocess.run([find_uv_bin(), "sync", "--python", sys.executable], cwd=project, capture_output=True, text=True, env=env)
        assert sync.returncode == 0, sync.stderr
        venv_py = project / ".venv" / "bin" / "python"
        assert installed(venv_py, "mamba_ssm") == "2.2.4+cu12torch2.13cxx11abitrue"
        assert installed(venv_py, "causal_conv1d") == "1.5.0.post8+cu12torch2.13cxx11abitrue"
        assert any(p.startswith("/packages/mamba_ssm-2.2.4") for p in srv.paths)
        uv_lock = (project / "uv.lock").read_text()
        for package in ("mamba_ssm", "causal_conv1d"):
            published = sha((house / "packages" / wheels[package].name).read_bytes())
            assert f"sha256={published}" in (project / "pyproject.toml").read_text() and f"sha256:{published}" in uv_lock

        # other bytes that are still a whole wheel (the file before publish set its METADATA version): only the hash can tell
        victim = house / "packages" / wheels["mamba_ssm"].name
        assert victim.read_bytes() != wheels["mamba_ssm"].read_bytes()
        victim.write_bytes(wheels["mamba_ssm"].read_bytes())
        again = subprocess.run([find_uv_bin(), "sync", "--frozen", "--python", sys.executable], cwd=project, capture_output=True, text=True,
                               env=dict(env, UV_CACHE_DIR=str(tmp_path / "uv-cache-2"), UV_PROJECT_ENVIRONMENT=str(tmp_path / "venv-2")))
        assert again.returncode != 0 and "hash" in again.stderr.lower(), again.stderr
    assert_only_lock_keys_changed(before, (project / "pyproject.toml").read_text())


def assert_only_lock_keys_changed(before: str, after: str):
    """Every byte outside the entries lock owns is as it was: comments, other dependencies, other indexes, other tools."""
    old, new = tomllib.loads(before), tomllib.loads(after)
    assert "# the lab's model code" in after and '"einops",  # tensor reshapes' in after
    assert [d for d in new["project"]["dependencies"] if not d.startswith(("mamba-ssm", "causal-conv1d"))] == ["einops"]
    assert new["project"]["dependencies"][1:] == ["mamba-ssm==2.2.4+cu12torch2.13cxx11abiTRUE", "causal-conv1d==1.5.0.post8+cu12torch2.13cxx11abiTRUE"]
    assert new["tool"]["uv"]["index"][0] == old["tool"]["uv"]["index"][0] and new["tool"]["ruff"] == old["tool"]["ruff"]
    assert new["tool"]["uv"]["index"][1]["explicit"] is True
    assert new["tool"]["uv"]["sources"] == {"mamba-ssm": {"index": "mambaenv-wheelhouse"}, "causal-conv1d": {"index": "mambaenv-wheelhouse"}}
    for key in ("name", "version", "requires-python"):
        assert new["project"][key] == old["project"][key]


def test_a_second_write_changes_nothing_more(tmp_path):
    path = tmp_path / "pyproject.toml"
    path.write_text('[project]\nname = "x"\nversion = "0"\ndependencies = ["numpy"]\n\n[tool.uv.sources]\ntorch = { index = "cu126" }\n')
    args = ["lock", "--format", "uv", "--write", str(path), "--offline", "--python", "3.11", "--torch", "2.6.0", "--torch-cuda", "12.6",
            "--cxx11abi", "true"]
    assert run_cli(*args).returncode == 0
    first = path.read_text()
    assert run_cli(*args).returncode == 0
    assert path.read_text() == first
    assert tomllib.loads(first)["tool"]["uv"]["sources"]["torch"] == {"index": "cu126"}


def test_several_targets_share_one_file_through_markers_that_pip_evaluates(tmp_path):
    from packaging.requirements import Requirement

    out = run_cli("lock", "--offline", "--target", "python=3.10,torch=2.6.0,torch-cuda=12.6,cxx11abi=true",
                  "--target", "python=3.11,torch=2.6.0,torch-cuda=12.6,cxx11abi=true,machine=aarch64")
    assert out.returncode == 0, out.stderr
    reqs = [Requirement(line.rstrip(" \\")) for line in out.stdout.splitlines() if line and not line.startswith(("#", " "))]
    for env, tag in (({"python_version": "3.10", "platform_machine": "x86_64"}, "cp310-cp310-linux_x86_64"),
                     ({"python_version": "3.11", "platform_machine": "aarch64"}, "cp311-cp311-linux_aarch64")):
        chosen = [r for r in reqs if r.marker.evaluate(env)]
        assert sorted(r.name for r in chosen) == ["causal_conv1d", "mamba_ssm"] and all(tag in r.url for r in chosen)
    assert not [r for r in reqs if r.marker.evaluate({"python_version": "3.12", "platform_machine": "x86_64"})]


def test_targets_no_marker_tells_apart_are_refused_and_nothing_is_written(tmp_path):
    dest = tmp_path / "requirements.txt"
    out = run_cli("lock", "--offline", "--output", str(dest), "--target", "python=3.11,torch=2.6.0,torch-cuda=12.6,cxx11abi=true",
                  "--target", "python=3.11,torch=2.7.0,torch-cuda=12.8,cxx11abi=true")
    assert out.returncode == 1 and len(out.stderr.strip().splitlines()) == 1
    assert "no environment marker tells them apart" in out.stderr and "one --target and one --output each" in out.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["mambaenv-cache"]  # no file, no half-written temp file: only the plan's cache


def test_a_target_without_a_wheel_stops_the_lock_with_resolves_reason_and_fix(tmp_path):
    out = run_cli("lock", "--offline", "--output", str(tmp_path / "r.txt"), *FACTS)
    assert out.returncode == 1 and len(out.stderr.strip().splitlines()) == 1 and "no prebuilt mamba_ssm wheel fits" in out.stderr
    assert "pip install 'torch==" in out.stderr and "mambaenv publish" in out.stderr and "--wheelhouse" in out.stderr
    assert not (tmp_path / "r.txt").exists()


def test_a_local_build_is_refused_until_published_then_locked_from_the_wheelhouse(tmp_path, isolated_cache):
    """The plan puts this machine's own build first; a lock is read elsewhere, so it takes the same file from a wheelhouse."""
    from mambaenv.build_cache import BuildKey, store_build
    from tests.wheels import write_wheel

    tag = f"cp{sys.version_info[0]}{sys.version_info[1]}-cp{sys.version_info[0]}{sys.version_info[1]}-linux_x86_64"
    stored = [store_build(write_wheel(tmp_path, f"{p}-{v}+cu12torch2.13cxx11abiTRUE-{tag}.whl", tag=tag),
                          BuildKey(p, "ab" * 32, "2.13.0", "12.8", PY, True, "9.0"), isolated_cache)
              for p, v in (("mamba_ssm", "2.2.4"), ("causal_conv1d", "1.7.0"))]
    house = tmp_path / "house"
    refused = run_cli("lock", "--offline", *FACTS, "--wheelhouse", str(house))
    assert refused.returncode == 1 and "exists only on this machine" in refused.stderr and "mambaenv publish" in refused.stderr
    assert run_cli("publish", *map(str, stored), "--to", str(house)).returncode == 0
    out = run_cli("lock", "--offline", *FACTS, "--wheelhouse", str(house), "--json")
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)["targets"][0]["wheels"]
    assert [(w["origin"], w["file"]) for w in got] == [("wheelhouse", p.name) for p in stored]
    assert [unquote(w["url"]) for w in got] == [unquote((house / "packages" / p.name).resolve().as_uri()) for p in stored]
    assert {w["index"] for w in got} == {(house / "simple").resolve().as_uri() + "/"}


def test_bad_input_is_one_line_with_the_fix():
    cases = {("--target", "python=3.11,cuda=12.6"): "use keys python, torch, torch-cuda",
             ("--format", "poetry", *FACTS): "use --format requirements|uv|pixi|conda",
             ("--format", "conda", "--write", "environment.yml", *FACTS): "write it with --output FILE",
             ("--target", "python=3.11,torch=2.6.0,torch-cuda=12.6,cxx11abi=true", "--torch", "2.6.0"): "put every target's facts in a --target"}
    for args, fix in cases.items():
        out = run_cli("lock", "--offline", *args)
        assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1 and fix in out.stderr, (args, out.stderr)


def test_an_offline_lock_says_which_lines_carry_no_hash():
    out = run_cli("lock", "--offline", "--python", "3.11", "--torch", "2.6.0", "--torch-cuda", "12.6", "--cxx11abi", "true", "--json")
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    unhashed = [w for w in res["targets"][0]["wheels"] if not w["sha256"]]
    assert unhashed and all(w["file"] in " ".join(res["notes"]) for w in unhashed)
    assert "no sha256" in res["text"] and "pip --require-hashes refuses this line" in res["text"]


# --- the pure writers, on wheels only this machine or conda has ------------------------------------

def wheel(url, origin="upstream", index=None, package="mamba_ssm"):
    return lock.LockedWheel(package, "2.2.4+cu12torch2.6cxx11abiTRUE", f"{package}-2.2.4+cu12torch2.6cxx11abiTRUE-cp311-cp311-linux_x86_64.whl",
                            url, "ab" * 32, origin, "local", index, "download")


def one_target(*ws):
    return [lock.LockTarget("python=3.11,torch=2.6.0", "3.11", "x86_64", "2.6.0", "12.6", True, ws)]


def test_a_wheel_only_this_machine_has_is_refused_with_the_publish_fix():
    for url in ("/root/.cache/mambaenv/builds/mamba_ssm.whl", "file:///root/.cache/mambaenv/builds/mamba_ssm.whl"):
        with pytest.raises(lock.LockError) as e:
            lock.plan_entries(one_target(wheel(url, origin="local-build")), "requirements")
        assert "exists only on this machine" in e.value.message and "mambaenv publish /root/.cache/mambaenv/builds/mamba_ssm.whl --to" in e.value.fix
    shared = wheel("file:///nfs/lab/wheelhouse/packages/m.whl", origin="wheelhouse", index="file:///nfs/lab/wheelhouse/simple/")
    assert lock.plan_entries(one_target(shared), "requirements").entries["mamba_ssm"][0].wheel == shared


def test_a_conda_forge_package_goes_into_conda_dependencies_and_is_refused_elsewhere():
    forge = wheel("conda-forge::mamba-ssm", origin="conda-forge")
    text = lock.render("conda", lock.plan_entries(one_target(forge), "conda"))
    assert "conda-forge::mamba-ssm=2.2.4+cu12torch2.6cxx11abiTRUE" in yaml.safe_load(text)["dependencies"]
    with pytest.raises(lock.LockError, match="conda-forge package"):
        lock.plan_entries(one_target(forge), "uv")


def test_uv_and_pixi_text_are_valid_toml_naming_the_index_or_the_url():
    ws = (wheel("https://lab.example/packages/m.whl", origin="wheelhouse", index="https://lab.example/simple/"),
          wheel("https://github.com/x/causal.whl", package="causal_conv1d"))
    locked = lock.plan_entries(one_target(*ws), "uv")
    uv = tomllib.loads(lock.render("uv", locked))["tool"]["uv"]
    assert uv["sources"] == {"mamba-ssm": {"index": "mambaenv-wheelhouse"}, "causal-conv1d": {"url": "https://github.com/x/causal.whl"}}
    assert uv["index"] == [{"name": "mambaenv-wheelhouse", "url": "https://lab.example/simple/", "explicit": True}]
    pixi = tomllib.loads(lock.render("pixi", locked))
    assert pixi["target"]["linux-64"]["pypi-dependencies"] == {
        "mamba-ssm": {"version": "==2.2.4+cu12torch2.6cxx11abiTRUE", "index": "https://lab.example/simple/"},
        "causal-conv1d": {"url": "https://github.com/x/causal.whl"}}


PIXI = """\
[workspace]
name = "lab"
channels = ["conda-forge"]
platforms = ["linux-64"]

[dependencies]
python = "3.11.*"  # the lab's Python

[pypi-dependencies]
einops = "*"

[target.linux-64.pypi-dependencies]
mamba_ssm = { url = "https://old.example/mamba_ssm.whl" }
"""


def test_pixi_write_replaces_only_the_wheel_entries(tmp_path):
    path = tmp_path / "pixi.toml"
    path.write_text(PIXI)
    out = run_cli("lock", "--format", "pixi", "--write", str(path), "--offline", "--python", "3.11", "--torch", "2.6.0", "--torch-cuda", "12.6",
                  "--cxx11abi", "true")
    assert out.returncode == 0, out.stderr
    after = path.read_text()
    old, new = tomllib.loads(PIXI), tomllib.loads(after)
    deps = new["target"]["linux-64"]["pypi-dependencies"]
    assert set(deps) == {"mamba-ssm", "causal-conv1d"} and all("cp311-cp311-linux_x86_64" in d["url"] for d in deps.values())
    assert {k: v for k, v in new.items() if k != "target"} == {k: v for k, v in old.items() if k != "target"} and "# the lab's Python" in after


# --- Astral's third-party builds: locked by what the plan knows of them, installed from an Astral-like index --------

# torch 2.11 has no upstream wheel; Astral's matrix builds it for CUDA 12.8 and this Python: the plan's answer is theirs
ASTRAL_FACTS = ["--python", PY, "--torch", "2.11.0", "--torch-cuda", "12.8", "--cxx11abi", "true"]
ASTRAL_TAG = f"cp{sys.version_info[0]}{sys.version_info[1]}-cp{sys.version_info[0]}{sys.version_info[1]}-manylinux_2_28_x86_64"
ASTRAL_VERSIONS = {"mamba_ssm": "2.3.2.post1+cu.12.8.torch.2.11", "causal_conv1d": "1.6.2.post1+cu.12.8.torch.2.11"}


@pytest.fixture
def astral(tmp_path):
    """An index laid out like wheels.astral.sh (simple/cu128/<project>/, #sha256= links), on 127.0.0.1; it also lists
    a wheel for torch 2.12 that no pin may take. MAMBAENV_ASTRAL_INDEX points the planner at it."""
    from tests.test_astral_source import astral_like_index
    from tests.wheels import wheel_bytes

    made = tmp_path / "made"
    made.mkdir()

    def wheel(package, version):
        path = made / f"{package}-{version}-{ASTRAL_TAG}.whl"
        path.write_bytes(wheel_bytes(package, version, tag=ASTRAL_TAG))
        return path

    root = tmp_path / "astral"
    astral_like_index(root, {"cu128/mamba-ssm": [wheel("mamba_ssm", ASTRAL_VERSIONS["mamba_ssm"]),
                                                 wheel("mamba_ssm", "2.3.2.post1+cu.12.8.torch.2.12")],
                             "cu128/causal-conv1d": [wheel("causal_conv1d", ASTRAL_VERSIONS["causal_conv1d"])]})
    with StaticServer(root) as srv:
        srv.env = {"MAMBAENV_ASTRAL_INDEX": srv.url + "/simple/{channel}/"}
        srv.root = root
        yield srv


def astral_file(package: str) -> str:
    return f"{package}-{ASTRAL_VERSIONS[package]}-{ASTRAL_TAG}.whl"


@pytest.mark.slow
def test_an_astral_answer_locked_online_pins_the_index_file_and_its_sha256_and_pip_refuses_other_bytes(tmp_path, astral):
    req = tmp_path / "requirements.txt"
    out = run_cli("lock", *ASTRAL_FACTS, "--output", str(req), "--json", env=astral.env)
    assert out.returncode == 0, out.stderr
    [target] = json.loads(out.stdout)["targets"]
    for w in target["wheels"]:
        data = (astral.root / "files" / astral_file(w["package"])).read_bytes()
        assert (w["origin"], w["source"], w["hashed"], w["sha256"]) == ("astral", "listed", "index", sha(data))
        assert f"{w['package']} @ {w['url']} \\\n    --hash=sha256:{sha(data)}" in req.read_text()
    assert "a third-party build" in req.read_text()

    py = fresh_venv(tmp_path / "env")
    victim = astral.root / "files" / astral_file("causal_conv1d")
    good = victim.read_bytes()
    victim.write_bytes(good[:-100] + bytes([good[-100] ^ 1]) + good[-99:])  # one bit, same length
    refused = pip(py, "--require-hashes", "-r", str(req))
    assert refused.returncode != 0 and "DO NOT MATCH THE HASHES" in refused.stderr
    victim.write_bytes(good)
    done = pip(py, "--require-hashes", "-r", str(req))
    assert done.returncode == 0, done.stderr
    assert {p: installed(py, p) for p in ASTRAL_VERSIONS} == ASTRAL_VERSIONS


ASTRAL_PYPROJECT = """\
[project]
name = "lab-model"
version = "0.1.0"
requires-python = "=={py}.*"
dependencies = []

[tool.uv]
environments = ["sys_platform == 'linux' and platform_machine == 'x86_64'"]
"""


@pytest.mark.slow
def test_an_offline_astral_answer_is_locked_by_its_index_and_pin_and_pip_and_uv_install_it_from_there(tmp_path, astral):
    """Offline the plan knows Astral's wheel from their matrix only: no file URL, no sha256. Both files name the index
    and the exact version; pip (--extra-index-url in the file) and uv sync (the index lock wrote into pyproject.toml)
    then take the right file from the index, and uv.lock records the sha256 the index lists."""
    from uv import find_uv_bin

    index = astral.url + "/simple/cu128/"
    req = tmp_path / "requirements.txt"
    out = run_cli("lock", *ASTRAL_FACTS, "--offline", "--output", str(req), "--json", env=astral.env)
    assert out.returncode == 0, out.stderr
    text = req.read_text()
    assert f"\n--extra-index-url {index}\n" in text and "\nmamba-ssm==2.3.2.post1+cu.12.8.torch.2.11\n" in text
    assert "predicted from the index's build matrix" in text and "--hash" not in text
    assert any("predicted from the index's build matrix" in n for n in json.loads(out.stdout)["notes"])
    py = fresh_venv(tmp_path / "env")
    nothing = astral.url + "/simple/none/"  # pip's own index: a loopback page that lists nothing (no PyPI from a test)
    done = subprocess.run([str(py), "-m", "pip", "install", "--no-cache-dir", "--index-url", nothing, "-r", str(req)], capture_output=True,
                          text=True, env=isolated_installer_env())
    assert done.returncode == 0, done.stderr
    assert {p: installed(py, p) for p in ASTRAL_VERSIONS} == ASTRAL_VERSIONS

    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text(ASTRAL_PYPROJECT.format(py=PY))
    out = run_cli("lock", "--format", "uv", "--write", str(project / "pyproject.toml"), *ASTRAL_FACTS, "--offline", env=astral.env)
    assert out.returncode == 0, out.stderr
    uv = tomllib.loads((project / "pyproject.toml").read_text())
    assert uv["tool"]["uv"]["index"] == [{"name": "astral-cu128", "url": index, "explicit": True}]
    assert uv["tool"]["uv"]["sources"] == {"mamba-ssm": {"index": "astral-cu128"}, "causal-conv1d": {"index": "astral-cu128"}}
    assert uv["project"]["dependencies"] == ["mamba-ssm==2.3.2.post1+cu.12.8.torch.2.11", "causal-conv1d==1.6.2.post1+cu.12.8.torch.2.11"]
    env = dict(isolated_installer_env(), UV_CACHE_DIR=str(tmp_path / "uv-cache"), UV_DEFAULT_INDEX=nothing)
    sync = subprocess.run([find_uv_bin(), "sync", "--python", sys.executable], cwd=project, capture_output=True, text=True, env=env)
    assert sync.returncode == 0, sync.stderr
    assert {p: installed(project / ".venv" / "bin" / "python", p) for p in ASTRAL_VERSIONS} == ASTRAL_VERSIONS
    listed = sha((astral.root / "files" / astral_file("mamba_ssm")).read_bytes())
    assert f"sha256:{listed}" in (project / "uv.lock").read_text()
