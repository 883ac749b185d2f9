"""`catalog refresh` against a loopback stand-in for the GitHub API; the live list overrides the matrix."""
import json

from mambaenv.catalog import load_catalog
from mambaenv.facts import TargetEnv
from mambaenv.resolve import resolve_package
from tests.conftest import run_cli
from tests.httpserver import LoopbackServer, Route

STORY = TargetEnv(python="3.8", torch="2.0.0", torch_cuda="11.8", cxx11_abi=False)
REAL = "mamba_ssm-2.2.2+cu118torch2.0cxx11abiFALSE-cp38-cp38-linux_x86_64.whl"


def release(tag, names):
    return {"tag_name": tag, "assets": [{"name": n, "size": 1234, "digest": "sha256:" + "ab" * 32,
                                         "browser_download_url": f"https://github.com/x/y/releases/download/{tag}/{n}"} for n in names]}


def serve_api(srv, mamba_pages, causal=None):
    for i, page in enumerate(mamba_pages):
        headers = {}
        if i + 1 < len(mamba_pages):
            headers["Link"] = f'<{srv.url(f"/repos/state-spaces/mamba/releases/p{i + 2}")}>; rel="next"'
        srv.add("/repos/state-spaces/mamba/releases" + (f"/p{i + 1}" if i else ""), Route(json_body=page, headers=headers))
    srv.add("/repos/Dao-AILab/causal-conv1d/releases", Route(json_body=causal or []))


def test_refresh_follows_pages_sends_the_token_and_overrides_the_matrix(isolated_cache):
    with LoopbackServer() as srv:
        serve_api(srv, [[release("v2.2.2", [REAL])], [release("v2.2.1", [])]])
        out = run_cli("catalog", "refresh", "--api", srv.base, "--json", env={"GITHUB_TOKEN": "t0ken"})
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["releases"] == {"mamba_ssm": 2, "causal_conv1d": 0}
        assert all(h.get("Authorization") == "Bearer t0ken" for _, _, h in srv.requests)
    cat = load_catalog(isolated_cache)
    choice = resolve_package(cat, "mamba_ssm", STORY, "2.2.2")
    assert choice.wheel.filename == REAL and choice.wheel.sha256 == "ab" * 32 and choice.wheel.size == 1234
    assert choice.wheel.source == "live"
    # the live list says v2.2.1 has no wheels, though its matrix would have built one
    assert resolve_package(cat, "mamba_ssm", STORY, "2.2.1").wheel is None
    # offline ignores the live list
    assert resolve_package(load_catalog(isolated_cache, offline=True), "mamba_ssm", STORY, "2.2.1").wheel is not None


def test_live_list_drops_a_cell_the_matrix_predicts(isolated_cache):
    with LoopbackServer() as srv:
        serve_api(srv, [[release("v2.2.2", [REAL.replace("cp38-cp38", "cp39-cp39")])]])
        assert run_cli("catalog", "refresh", "--api", srv.base).returncode == 0
    choice = resolve_package(load_catalog(isolated_cache), "mamba_ssm", STORY, "2.2.2")
    assert choice.wheel is None and "Python 3.8" in choice.reason


def test_a_release_newer_than_the_shipped_catalog_is_picked_up(isolated_cache):
    new = "mamba_ssm-2.4.0+cu13torch2.11cxx11abiTRUE-cp312-cp312-linux_x86_64.whl"
    with LoopbackServer() as srv:
        serve_api(srv, [[release("v2.4.0", [new])]])
        assert run_cli("catalog", "refresh", "--api", srv.base).returncode == 0
    env = TargetEnv(python="3.12", torch="2.11.0", torch_cuda="13.0", cxx11_abi=True)
    choice = resolve_package(load_catalog(isolated_cache), "mamba_ssm", env)
    assert choice.wheel.filename == new and choice.wheel.tag == "v2.4.0"


def test_rate_limit_gives_one_line_naming_github_token():
    with LoopbackServer() as srv:
        srv.add("/repos/state-spaces/mamba/releases", Route(status=403, body=b"{}", headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "0"}))
        out = run_cli("catalog", "refresh", "--api", srv.base)
    assert out.returncode == 2
    assert "rate limit" in out.stderr and "GITHUB_TOKEN" in out.stderr


def test_refresh_with_no_route_fails_clearly_and_leaves_no_live_file(isolated_cache):
    with LoopbackServer() as srv:
        base = srv.base
    out = run_cli("catalog", "refresh", "--api", base)  # server closed: connection refused
    assert out.returncode == 2 and "cannot reach the GitHub API" in out.stderr
    assert not (isolated_cache / "live-releases.json").exists()
