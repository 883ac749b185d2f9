"""mambaenv docker push/pull against a real registry (Debian's docker-registry, the CNCF distribution) on 127.0.0.1.

The registry is started here on a free loopback port with its own storage folder and stopped at the end;
dockerd talks to it over loopback only (Docker treats 127.0.0.0/8 registries as insecure, so plain HTTP works).
Every container and build runs with networking off.
"""
import json
import shutil
import socket
import subprocess
import time
import uuid

import docker
import pytest
import requests

from mambaenv import docker as d
from tests.conftest import run_cli
from tests.test_docker import docker_ok
from tests.wheels import write_wheel

REGISTRY_BIN = shutil.which("docker-registry")
pytestmark = [pytest.mark.docker,
              pytest.mark.skipif(not docker_ok(), reason="no Docker daemon answers here"),
              pytest.mark.skipif(REGISTRY_BIN is None, reason="docker-registry is not installed (make system-deps installs it)")]
NET = ["--network", "none"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """HOST:PORT of a registry that lives as long as this module's tests."""
    root = tmp_path_factory.mktemp("registry")
    port = free_port()
    config = root / "config.yml"
    config.write_text(f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n"
                      f"  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n")
    proc = subprocess.Popen([REGISTRY_BIN, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=open(root / "registry.log", "wb"))
    address = f"127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if requests.get(f"http://{address}/v2/", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if proc.poll() is not None:
                raise RuntimeError(f"docker-registry exited: {(root / 'registry.log').read_text()[-500:]}")
            time.sleep(0.1)
        else:
            raise RuntimeError("docker-registry did not answer on " + address)
        yield address
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    from tests.fixture_builders import docker_base_image, wheelhouse

    wd = tmp_path_factory.mktemp("wheels")
    w = write_wheel(wd, "causal_conv1d-1.5.0.post8+cu12torch2.13cxx11abiTRUE-cp311-cp311-linux_x86_64.whl", requires=["einops"])
    dep = next(wheelhouse().glob("einops-*.whl"))
    tag = f"mambaenv-regtest:{uuid.uuid4().hex[:8]}"
    out = run_cli("docker", "build", "--base-image", docker_base_image(), "--wheel", str(w), "--wheel", str(dep), "--tag", tag, "--force", "--json")
    assert out.returncode == 0, out.stderr
    yield tag
    for t in (tag,):
        try:
            d.engine().remove_image(t)
        except Exception:
            pass


@pytest.fixture
def project(tmp_path):
    p = tmp_path / "project"
    p.mkdir()
    (p / "module.py").write_text("import causal_conv1d, einops\nprint('module ran with', causal_conv1d.__version__, 'einops', einops.__version__)\n")
    return p


def run_project(project, ref):
    out = run_cli("docker", "run", str(project), "--image", ref, "--gpus", "none", *NET, "--", "python3", "/workspace/module.py")
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_push_remove_pull_run_gives_the_same_result(registry, image, project):
    before = run_project(project, image)
    assert "module ran with 1.5.0.post8" in before

    pushed = run_cli("docker", "push", image, "--registry", registry, "--json")
    assert pushed.returncode == 0, pushed.stderr
    info = json.loads(pushed.stdout)
    ref = info["pushed"]
    assert ref == f"{registry}/{image}"
    assert info["digest"].startswith("sha256:")
    repo, tag = ref.split("/", 1)[1].split(":")
    assert tag in requests.get(f"http://{registry}/v2/{repo}/tags/list", timeout=5).json()["tags"]  # the registry holds it

    c = d.engine().client
    image_id = c.images.get(image).id
    c.images.remove(ref, force=True)
    c.images.remove(image, force=True)
    with pytest.raises(docker.errors.ImageNotFound):
        c.images.get(image_id)  # gone from this machine: the run below can only use what was pulled

    pulled = run_cli("docker", "pull", ref, "--json")
    assert pulled.returncode == 0, pulled.stderr
    assert json.loads(pulled.stdout)["id"] == image_id
    try:
        assert run_project(project, ref) == before
    finally:
        repo_name, _, t = image.rpartition(":")
        c.images.get(ref).tag(repo_name, t)  # the module's other tests use the image under its first name
        c.images.remove(ref)


def test_push_shows_progress_and_the_pull_command(registry, image):
    out = run_cli("docker", "push", image, "--registry", registry)
    assert out.returncode == 0, out.stderr
    assert f"mambaenv docker pull {registry}/{image}" in out.stdout
    d.engine().remove_image(f"{registry}/{image}")


def test_push_to_a_registry_that_is_not_there_is_one_clear_line(image):
    dead = f"127.0.0.1:{free_port()}"
    out = run_cli("docker", "push", image, "--registry", dead)
    assert out.returncode == 7
    assert out.stderr.count("\n") == 1 and f"docker push of {dead}/" in out.stderr and "curl http://" in out.stderr
    d.engine().remove_image(f"{dead}/{image}")


def test_malformed_registry_and_missing_image_are_refused_before_any_push(registry):
    bad = run_cli("docker", "push", "mambaenv-regtest:nope", "--registry", f"http://{registry}")
    assert bad.returncode == 7 and "HOST:PORT" in bad.stderr
    missing = run_cli("docker", "pull", f"{registry}/never-pushed:1")
    assert missing.returncode == 7 and "docker pull of" in missing.stderr


def test_registry_refs_are_made_by_a_pure_function():
    assert d.registry_ref("mambaenv-mamba:latest", "reg.lab:5000") == ("reg.lab:5000/mambaenv-mamba", "latest")
    assert d.registry_ref("old.host:5000/team/img", "reg.lab:5000") == ("reg.lab:5000/team/img", "latest")
    assert d.registry_ref("localhost/img:2", "reg.lab:5000") == ("reg.lab:5000/img", "2")  # Podman's local name
    assert d.split_ref("127.0.0.1:5000/a/b:v2") == ("127.0.0.1:5000/a/b", "v2")
    assert d.split_ref("127.0.0.1:5000/a/b") == ("127.0.0.1:5000/a/b", "latest")


def test_image_references_are_read_by_dockers_rules():
    """The colon of a registry's port is not a tag separator; what Docker refuses is refused with the reason."""
    from mambaenv.errors import BadInput
    from mambaenv.imageref import parse_ref

    cases = {"127.0.0.1:5999/a:1": ("127.0.0.1:5999", "a", "1"), "127.0.0.1:5999/a": ("127.0.0.1:5999", "a", None),
             "localhost/x": ("localhost", "x", None), "team/img:v2": (None, "team/img", "v2"), "ubuntu": (None, "ubuntu", None),
             "[::1]:5000/x:y": ("[::1]:5000", "x", "y"), "reg.lab/a/b/c:1.0-rc_1": ("reg.lab", "a/b/c", "1.0-rc_1")}
    for text, (domain, path, tag) in cases.items():
        ref = parse_ref(text)
        assert (ref.domain, ref.path, ref.tag) == (domain, path, tag) and str(ref) == text, text
    assert parse_ref("img").for_podman().name == "localhost/img" and parse_ref("reg.lab/img").for_podman().name == "reg.lab/img"
    for bad, why in (("Team/img:x", None), ("x:", "malformed tag"), ("a//b", "malformed repository path"), ("img:[bold]", "malformed tag"),
                     ("img@sha256:zz", "malformed digest"), ("", "is empty")):
        if why is None:
            assert parse_ref(bad).domain == "Team"  # a capitalised first part is a registry host, as for Docker
            continue
        with pytest.raises(BadInput, match=why):
            parse_ref(bad)
