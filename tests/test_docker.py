"""mambaenv docker against a real Docker engine. Every container and build here runs with networking off."""
import json
import os
import uuid
from pathlib import Path

import pytest

from mambaenv import docker as d
from tests.conftest import run_cli
from tests.wheels import write_wheel

NET = ["--network", "none"]  # network_mode="none" for every container and build in these tests


def docker_ok() -> bool:
    try:
        d.client(timeout=5)
        return True
    except Exception:
        return False


pytestmark = pytest.mark.docker
if not docker_ok():
    if os.environ.get("MAMBAENV_REQUIRE_DOCKER"):
        raise RuntimeError("MAMBAENV_REQUIRE_DOCKER is set but no Docker daemon answers")
    pytest.skip("no Docker daemon answers here", allow_module_level=True)


@pytest.fixture(scope="module")
def base():
    from tests.fixture_builders import docker_base_image

    return docker_base_image()


@pytest.fixture(scope="module")
def built(base, tmp_path_factory):
    """An image built with networking off, holding a wheel (and its dependency) copied from the host."""
    from tests.fixture_builders import wheelhouse

    wd = tmp_path_factory.mktemp("wheels")
    w = write_wheel(wd, "causal_conv1d-1.5.0.post8+cu12torch2.13cxx11abiTRUE-cp311-cp311-linux_x86_64.whl", requires=["einops"])
    dep = next(wheelhouse().glob("einops-*.whl"))
    tag = f"mambaenv-test:{uuid.uuid4().hex[:8]}"
    out = run_cli("docker", "build", "--base-image", base, "--wheel", str(w), "--wheel", str(dep), "--tag", tag, "--force", "--json")
    assert out.returncode == 0, out.stderr
    yield tag
    d.client().images.remove(tag, force=True)


@pytest.fixture
def project(tmp_path):
    p = tmp_path / "my project (v2)"
    p.mkdir()
    (p / "module.py").write_text("import causal_conv1d\nprint('module ran with', causal_conv1d.__version__)\n")
    return p


def test_build_ran_without_network_and_installed_the_wheel(built, project):
    out = run_cli("docker", "run", str(project), "--image", built, "--gpus", "none", *NET, "--", "python3", "/workspace/module.py")
    assert out.returncode == 0, out.stderr
    assert "module ran with 1.5.0.post8" in out.stdout


def test_project_with_spaces_is_mounted_as_the_working_dir_and_files_belong_to_the_user(built, project):
    os.chown(project, 4321, 4321)  # the project belongs to the person who runs it
    out = run_cli("docker", "run", str(project), "--image", built, "--gpus", "none", *NET, "--user", "4321:4321", "--",
                  "python3", "-c", "import os; print(os.getcwd(), sorted(os.listdir('.'))); open('made-inside.txt', 'w').write('x')")
    assert out.returncode == 0, out.stderr
    assert "/workspace ['module.py']" in out.stdout
    st = (project / "made-inside.txt").stat()
    assert (st.st_uid, st.st_gid) == (4321, 4321)


def test_a_project_path_with_a_colon_and_a_comma_is_mounted(built, tmp_path):
    """A bind string (host:container:mode) cannot carry a ':'; the Mount object can."""
    p = tmp_path / "run:2024,final"
    p.mkdir()
    (p / "data.txt").write_text("colon ok")
    out = run_cli("docker", "run", str(p), "--image", built, "--gpus", "none", *NET, "--", "cat", "/workspace/data.txt")
    assert out.returncode == 0, out.stderr
    assert "colon ok" in out.stdout


def test_a_docker_error_with_brackets_is_shown_as_written(base, project):
    out = run_cli("docker", "run", str(project), "--image", "mambaenv-never-built:[bold]x", "--gpus", "none", *NET, "--", "true")
    assert out.returncode == 7 and "[bold]x" in out.stderr


def test_default_user_is_the_callers_uid_and_gid(project):
    assert d.run_options(project, "x", "none", False, False, [], "none")["user"] == f"{os.getuid()}:{os.getgid()}"


def test_read_only_mount(built, project):
    out = run_cli("docker", "run", str(project), "--image", built, "--gpus", "none", *NET, "--read-only", "--",
                  "sh", "-c", "touch /workspace/nope")
    assert out.returncode != 0 and not (project / "nope").exists()


def test_exit_code_of_the_command_comes_back(built, project):
    out = run_cli("docker", "run", str(project), "--image", built, "--gpus", "none", *NET, "--", "sh", "-c", "exit 42")
    assert out.returncode == 42


def test_detached_container_is_labelled_listed_committed_stopped_and_removed(built, project):
    name = f"mambaenv-t-{uuid.uuid4().hex[:6]}"
    out = run_cli("docker", "run", str(project), "--image", built, "--gpus", "none", *NET, "--detach", "--name", name, "--json",
                  "--", "sleep", "60")
    assert out.returncode == 0, out.stderr
    ps = json.loads(run_cli("docker", "ps", "--json").stdout)["containers"]
    mine = [c for c in ps if c["name"] == name]
    assert mine and mine[0]["project"] == str(project.resolve()) and mine[0]["status"] == "running"
    tag = f"mambaenv-test-saved:{uuid.uuid4().hex[:6]}"
    assert run_cli("docker", "commit", name, tag).returncode == 0
    assert d.client().images.get(tag).labels.get(d.LABEL) == "true"
    assert run_cli("docker", "stop", name).returncode == 0
    assert run_cli("docker", "rm", name).returncode == 0
    assert not [c for c in json.loads(run_cli("docker", "ps", "--json").stdout)["containers"] if c["name"] == name]
    d.client().images.remove(tag, force=True)


def test_stop_refuses_a_container_that_is_not_mambaenvs(base):
    c = d.client()
    other = c.containers.run(base, ["sleep", "30"], detach=True, network_mode="none")
    try:
        out = run_cli("docker", "stop", other.id)
        assert out.returncode == 7 and "not a mambaenv container" in out.stderr
    finally:
        other.remove(force=True)


def test_save_and_load_round_trip(built, tmp_path):
    f = tmp_path / "image.tar.gz"
    assert run_cli("docker", "save", built, "-o", str(f)).returncode == 0
    assert f.stat().st_size > 1_000_000 and f.read_bytes()[:2] == b"\x1f\x8b"
    d.client().images.remove(built, force=True)
    out = run_cli("docker", "load", str(f), "--json")
    assert out.returncode == 0, out.stderr
    assert built in json.loads(out.stdout)["images"]


def test_asking_for_a_gpu_without_the_nvidia_runtime_says_so(built, project):
    out = run_cli("docker", "run", str(project), "--image", built, "--gpus", "all", *NET, "--", "true")
    assert out.returncode == 7
    assert "no NVIDIA runtime" in out.stderr and "nvidia-container-toolkit" in out.stderr


def test_a_missing_image_is_never_pulled(project):
    out = run_cli("docker", "run", str(project), "--image", "mambaenv-never-built:x", "--gpus", "none", *NET, "--", "true")
    assert out.returncode == 7 and "not on this machine" in out.stderr and "docker load" in out.stderr


def test_build_refuses_a_wheel_for_another_python(base, tmp_path):
    w = write_wheel(tmp_path, "causal_conv1d-1.5.0.post8+cu12torch2.13cxx11abiTRUE-cp310-cp310-linux_x86_64.whl")
    out = run_cli("docker", "build", "--base-image", base, "--wheel", str(w), "--tag", "mambaenv-test:never")
    assert out.returncode == 7 and "Python 3.10" in out.stderr


def test_the_repos_dockerfile_builds_with_plain_docker_and_no_network(base, tmp_path):
    """What its header promises a reader: docker build --network none --build-arg BASE_IMAGE=... with wheels/ beside it."""
    import shutil

    from tests.fixture_builders import wheelhouse

    ctx = tmp_path / "ctx"
    (ctx / "wheels").mkdir(parents=True)
    shutil.copy(Path(__file__).resolve().parent.parent / "dockerfiles" / "Dockerfile", ctx / "Dockerfile")
    write_wheel(ctx / "wheels", "causal_conv1d-1.5.0.post8+cu12torch2.13cxx11abiTRUE-cp311-cp311-linux_x86_64.whl", requires=["einops"])
    shutil.copy(next(wheelhouse().glob("einops-*.whl")), ctx / "wheels")
    (ctx / "requirements.txt").write_text("einops\n")
    tag = f"mambaenv-test-plain:{uuid.uuid4().hex[:8]}"
    c = d.client()
    c.images.build(path=str(ctx), buildargs={"BASE_IMAGE": base}, tag=tag, network_mode="none", rm=True)
    try:
        out = c.containers.run(tag, ["python3", "-c", "import causal_conv1d, einops; print(causal_conv1d.__version__)"],
                               network_mode="none", remove=True)
        assert out.decode().strip() == "1.5.0.post8"
    finally:
        c.images.remove(tag, force=True)


def test_build_refuses_input_that_would_make_an_image_without_the_kernels(base, tmp_path):
    """A typo'd path, a text file or only a dependency wheel used to give an image with no mamba_ssm, exit 0."""
    from tests.fixture_builders import wheelhouse

    text = tmp_path / "notes.txt"
    text.write_text("not a wheel")
    dep = next(wheelhouse().glob("einops-*.whl"))
    cases = [(str(tmp_path / "missing.whl"), "no such file"), (str(text), "is not a wheel"), (str(dep), "no mamba_ssm or causal_conv1d wheel")]
    for wheel, words in cases:
        out = run_cli("docker", "build", "--base-image", base, "--wheel", wheel, "--tag", "mambaenv-test:never")
        assert out.returncode == 2 and words in out.stderr and "Traceback" not in out.stderr, (wheel, out.stderr)
    assert not d.client().images.list(name="mambaenv-test:never")
