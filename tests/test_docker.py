"""mambaenv docker against real engines: Docker, Podman through its API service, Podman through its CLI (the same
tests for each), and rootless Podman for file ownership. Every container and build here runs with networking off."""
import gzip
import io
import json
import os
import resource
import subprocess
import tarfile
import uuid
from pathlib import Path

import pytest

from mambaenv import docker as d
from tests.conftest import run_cli
from tests.wheels import write_wheel

NET = ["--network", "none"]  # network_mode="none" for every container and build in these tests
ENGINES = ("docker", "podman", "podman-cli")
REQUIRED = {"docker": "MAMBAENV_REQUIRE_DOCKER", "podman": "MAMBAENV_REQUIRE_PODMAN", "podman-cli": "MAMBAENV_REQUIRE_PODMAN"}
ROOTLESS_USER = "mambaenv-rootless"  # tools/start_podman.py makes it and starts its Podman service


def engine_env(name: str) -> dict:
    return dict(os.environ, MAMBAENV_ENGINE=name)


def connect(name: str):
    """The engine for ``name``, or None; "podman" must be the API service (else it would test the CLI twice)."""
    try:
        eng = d.engine(timeout=120, env=engine_env(name))
    except Exception:
        return None
    return eng if {"docker": "api", "podman": "api", "podman-cli": "cli"}[name] == eng.via else None


def docker_ok() -> bool:
    return connect("docker") is not None


pytestmark = pytest.mark.docker


class Engine:
    def __init__(self, name: str, eng, base: str):
        self.name, self.eng, self.base = name, eng, base

    def cli(self, *args, **kwargs):
        return run_cli(*args, env={"MAMBAENV_ENGINE": self.name}, **kwargs)

    def remove_image(self, ref: str) -> None:
        try:
            self.eng.remove_image(ref)
        except Exception:
            pass


@pytest.fixture(scope="module", params=ENGINES)
def engine(request):
    eng = connect(request.param)
    if eng is None:
        if os.environ.get(REQUIRED[request.param]):
            raise RuntimeError(f"{REQUIRED[request.param]} is set but {request.param} does not answer")
        pytest.skip(f"no {request.param} engine answers here")
    from tests.fixture_builders import docker_base_image, podman_base_image

    return Engine(request.param, eng, docker_base_image() if request.param == "docker" else podman_base_image())


@pytest.fixture(scope="module")
def built(engine, tmp_path_factory):
    """An image built with networking off, holding a wheel (and its dependency) copied from the host."""
    from tests.fixture_builders import wheelhouse

    wd = tmp_path_factory.mktemp("wheels")
    w = write_wheel(wd, "causal_conv1d-1.5.0.post8+cu12torch2.13cxx11abiTRUE-cp311-cp311-linux_x86_64.whl", requires=["einops"])
    dep = next(wheelhouse().glob("einops-*.whl"))
    tag = f"mambaenv-test:{uuid.uuid4().hex[:8]}"
    out = engine.cli("docker", "build", "--base-image", engine.base, "--wheel", str(w), "--wheel", str(dep), "--tag", tag, "--force", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["engine"] == ("docker" if engine.name == "docker" else "podman")
    yield tag
    engine.remove_image(tag)


@pytest.fixture
def project(tmp_path):
    p = tmp_path / "my project (v2)"
    p.mkdir()
    (p / "module.py").write_text("import causal_conv1d\nprint('module ran with', causal_conv1d.__version__)\n")
    return p


def our_containers(engine, project=None) -> list:
    """mambaenv's containers on the engine; with ``project``, only those for that folder (another test session may share
    the engine, and its containers come and go meanwhile)."""
    found = engine.eng.containers(f"{d.LABEL}=true")
    return found if project is None else [c for c in found if c.labels.get(d.LABEL_PROJECT) in (str(project), str(Path(project).resolve()))]


def test_build_ran_without_network_and_installed_the_wheel(engine, built, project):
    out = engine.cli("docker", "run", str(project), "--image", built, "--gpus", "none", *NET, "--", "python3", "/workspace/module.py")
    assert out.returncode == 0, out.stderr
    assert "module ran with 1.5.0.post8" in out.stdout


def test_project_with_spaces_is_mounted_as_the_working_dir_and_files_belong_to_the_user(engine, built, project):
    os.chown(project, 4321, 4321)  # the project belongs to the person who runs it
    out = engine.cli("docker", "run", str(project), "--image", built, "--gpus", "none", *NET, "--user", "4321:4321", "--",
                     "python3", "-c", "import os; print(os.getcwd(), sorted(os.listdir('.'))); open('made-inside.txt', 'w').write('x')")
    assert out.returncode == 0, out.stderr
    assert "/workspace ['module.py']" in out.stdout
    st = (project / "made-inside.txt").stat()
    assert (st.st_uid, st.st_gid) == (4321, 4321)


def test_a_project_path_with_a_colon_and_a_comma_is_mounted(engine, built, tmp_path):
    """A bind string (host:container:mode) cannot carry a ':'; a mount given field by field can."""
    p = tmp_path / "run:2024,final"
    p.mkdir()
    (p / "data.txt").write_text("colon ok")
    out = engine.cli("docker", "run", str(p), "--image", built, "--gpus", "none", *NET, "--", "cat", "/workspace/data.txt")
    assert out.returncode == 0, out.stderr
    assert "colon ok" in out.stdout


def test_read_only_mount(engine, built, project):
    out = engine.cli("docker", "run", str(project), "--image", built, "--gpus", "none", *NET, "--read-only", "--",
                     "sh", "-c", "touch /workspace/nope")
    assert out.returncode != 0 and not (project / "nope").exists()


def test_exit_code_of_the_command_comes_back(engine, built, project):
    out = engine.cli("docker", "run", str(project), "--image", built, "--gpus", "none", *NET, "--", "sh", "-c", "exit 42")
    assert out.returncode == 42


def test_a_run_that_fails_to_start_leaves_no_container(engine, built, project):
    """Create then start: when the start fails (no such command in the image), the created container is removed."""
    before = {c.id for c in our_containers(engine, project)}
    out = engine.cli("docker", "run", str(project), "--image", built, "--gpus", "none", *NET, "--", "no-such-command-here")
    assert out.returncode == 7 and "no-such-command-here" in out.stderr and "check the command after --" in out.stderr  # it did fail
    assert {c.id for c in our_containers(engine, project)} == before


def test_detached_container_is_labelled_listed_committed_stopped_and_removed(engine, built, project):
    name = f"mambaenv-t-{uuid.uuid4().hex[:6]}"
    out = engine.cli("docker", "run", str(project), "--image", built, "--gpus", "none", *NET, "--detach", "--name", name, "--json",
                     "--", "sleep", "60")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["detached"] is True
    ps = json.loads(engine.cli("docker", "ps", "--json").stdout)["containers"]
    mine = [c for c in ps if c["name"] == name]
    assert mine and mine[0]["project"] == str(project.resolve()) and mine[0]["status"] == "running"
    tag = f"mambaenv-test-saved:{uuid.uuid4().hex[:6]}"
    committed = engine.cli("docker", "commit", name, tag, "--json")
    assert committed.returncode == 0, committed.stderr
    assert engine.eng.image(tag).labels.get(d.LABEL) == "true"
    assert engine.cli("docker", "stop", name).returncode == 0
    assert engine.cli("docker", "rm", name).returncode == 0
    assert not [c for c in json.loads(engine.cli("docker", "ps", "--json").stdout)["containers"] if c["name"] == name]
    engine.remove_image(tag)


def test_commit_to_a_registry_with_a_port_keeps_the_port_in_the_name(engine, built, project):
    """127.0.0.1:5999/a:1 is registry 127.0.0.1:5999, repository a, tag 1 (the port's colon is not a tag)."""
    name = f"mambaenv-t-{uuid.uuid4().hex[:6]}"
    assert engine.cli("docker", "run", str(project), "--image", built, "--gpus", "none", *NET, "--detach", "--name", name,
                      "--", "sleep", "60").returncode == 0
    tag = f"127.0.0.1:5999/mambaenv-commit-{uuid.uuid4().hex[:6]}:1"
    try:
        out = engine.cli("docker", "commit", name, tag)
        assert out.returncode == 0, out.stderr
        assert tag in engine.eng.image(tag).tags
    finally:
        engine.cli("docker", "rm", "--force", name)
        engine.remove_image(tag)


def test_a_container_with_a_forged_label_is_not_stopped(engine):
    """Anyone can label a container org.mambaenv.managed=true; mambaenv acts only on the ids it recorded."""
    cid = engine.eng.create(d.RunSpec(engine.base, ("sleep", "30"), source=None, network="none", labels={d.LABEL: "true"}))
    engine.eng.start(cid)
    try:
        for action in ("stop", "rm", "commit"):
            out = engine.cli("docker", action, cid, *(["mambaenv-forged:x"] if action == "commit" else []))
            assert out.returncode == 7 and "not a mambaenv container" in out.stderr, (action, out.stderr)
        assert engine.eng.container(cid).status == "running"
        assert cid[:12] not in engine.cli("docker", "ps").stdout
    finally:
        engine.eng.remove(cid, force=True)


def test_stop_refuses_a_container_that_is_not_mambaenvs(engine):
    cid = engine.eng.create(d.RunSpec(engine.base, ("sleep", "30"), source=None, network="none"))
    engine.eng.start(cid)
    try:
        out = engine.cli("docker", "stop", cid)
        assert out.returncode == 7 and "not a mambaenv container" in out.stderr
    finally:
        engine.eng.remove(cid, force=True)


def test_save_and_load_round_trip(engine, built, tmp_path):
    f = tmp_path / "image.tar.gz"
    out = engine.cli("docker", "save", built, "-o", str(f))
    assert out.returncode == 0, out.stderr
    assert f.stat().st_size > 1_000_000 and f.read_bytes()[:2] == b"\x1f\x8b"
    assert [p.name for p in tmp_path.iterdir()] == ["image.tar.gz"]  # no temporary file left beside it
    image_id = engine.eng.image(built).id
    engine.remove_image(built)
    assert engine.eng.image(built) is None
    out = engine.cli("docker", "load", str(f), "--json")
    assert out.returncode == 0, out.stderr
    loaded = json.loads(out.stdout)["images"]
    assert built in loaded or f"localhost/{built}" in loaded  # Podman names what it loads under localhost/
    assert engine.eng.image(built).id == image_id


def test_asking_for_a_gpu_without_a_way_to_pass_it_says_so(engine, built, project):
    out = engine.cli("docker", "run", str(project), "--image", built, "--gpus", "all", *NET, "--", "true")
    assert out.returncode == 7 and "GPUs cannot reach" in out.stderr
    assert ("nvidia-ctk cdi generate" if engine.name != "docker" else "nvidia-container-toolkit") in out.stderr


def test_a_missing_image_is_never_pulled(engine, project):
    out = engine.cli("docker", "run", str(project), "--image", "mambaenv-never-built:x", "--gpus", "none", *NET, "--", "true")
    assert out.returncode == 7 and "not on this machine" in out.stderr and "docker load" in out.stderr


def test_a_missing_base_image_is_named_with_how_to_bring_it(engine, tmp_path):
    """The base image is not something mambaenv docker build makes: the advice is to pull or load it."""
    w = write_wheel(tmp_path, "causal_conv1d-1.5.0.post8+cu12torch2.13cxx11abiTRUE-cp311-cp311-linux_x86_64.whl")
    out = engine.cli("docker", "build", "--base-image", "mambaenv-no-such-base:1", "--wheel", str(w), "--tag", "mambaenv-test:never")
    assert out.returncode == 7 and "base image mambaenv-no-such-base:1 is not on this machine" in out.stderr
    assert "pull mambaenv-no-such-base:1" in out.stderr and "mambaenv docker load" in out.stderr
    assert "build it with mambaenv docker build" not in out.stderr


def test_build_refuses_a_wheel_for_another_python(engine, tmp_path):
    w = write_wheel(tmp_path, "causal_conv1d-1.5.0.post8+cu12torch2.13cxx11abiTRUE-cp310-cp310-linux_x86_64.whl")
    out = engine.cli("docker", "build", "--base-image", engine.base, "--wheel", str(w), "--tag", "mambaenv-test:never")
    assert out.returncode == 7 and "Python 3.10" in out.stderr


# --- engine-independent, or Docker only ----------------------------------------------------------------------------

def test_an_image_name_docker_would_refuse_is_refused_before_the_engine(project):
    out = run_cli("docker", "run", str(project), "--image", "mambaenv-never-built:[bold]x", "--gpus", "none", *NET, "--", "true")
    assert out.returncode == 2 and "[bold]x" in out.stderr and "malformed tag" in out.stderr


def test_default_user_is_the_callers_uid_and_gid_and_rootless_podman_keeps_ids(project):
    from mambaenv.detect.engine_facts import DockerFacts

    ask = d.RunRequestFacts(project, "x", "none")
    spec, _ = d.run_spec(ask, DockerFacts(kind="docker"))
    assert (spec.user, spec.userns, spec.relabel) == (f"{os.getuid()}:{os.getgid()}", None, None)
    spec, _ = d.run_spec(ask, DockerFacts(kind="podman", rootless=True, selinux=True))
    assert (spec.user, spec.userns, spec.relabel) == (None, "keep-id", "z")


@pytest.fixture
def docker_engine():
    eng = connect("docker")
    if eng is None:
        pytest.skip("no Docker engine answers here")
    from tests.fixture_builders import docker_base_image

    return Engine("docker", eng, docker_base_image())


def test_save_writes_through_no_planted_temporary_name(docker_engine, tmp_path):
    """A symlink planted at the old fixed temporary name (.OUT.part) is neither written through nor left as the output."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out_file = tmp_path / "base.tar"
    (tmp_path / ".base.tar.part").symlink_to(victim)
    out = docker_engine.cli("docker", "save", docker_engine.base, "-o", str(out_file))
    assert out.returncode == 0, out.stderr
    assert victim.read_text() == "precious"
    assert out_file.is_file() and not out_file.is_symlink() and tarfile.is_tarfile(out_file)


def _big_image_archive(path: Path, size: int) -> str:
    """A docker-save archive of one layer holding ``size`` zero bytes, gzipped (a few MB on disk)."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as t:
        info = tarfile.TarInfo("zeros.bin")
        info.size = size
        t.addfile(info, _Zeros(size))
    layer_bytes = layer.getvalue()
    import hashlib

    diff_id = "sha256:" + hashlib.sha256(layer_bytes).hexdigest()
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {}, "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    tag = f"mambaenv-test-big:{uuid.uuid4().hex[:6]}"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [tag], "Layers": ["layer/layer.tar"]}]).encode()
    with gzip.open(path, "wb", compresslevel=1) as gz, tarfile.open(fileobj=gz, mode="w|") as t:
        for name, data in ((config_name, config), ("layer/layer.tar", layer_bytes), ("manifest.json", manifest)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return tag


class _Zeros(io.RawIOBase):
    def __init__(self, size):
        self.left = size

    def readinto(self, b):
        n = min(len(b), self.left)
        b[:n] = bytes(n)
        self.left -= n
        return n


def test_load_streams_the_file_instead_of_reading_it_whole(docker_engine, tmp_path):
    """512 MiB of image in a small gzip: mambaenv's memory stays far below the image's size (it read it whole before)."""
    size = 512 * 1024 * 1024
    f = tmp_path / "big.tar.gz"
    tag = _big_image_archive(f, size)
    assert f.stat().st_size < 8 * 1024 * 1024
    code = ("import resource, subprocess, sys; r = subprocess.run([sys.executable, '-m', 'mambaenv', 'docker', 'load', sys.argv[1], '--json']); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    try:
        out = subprocess.run([os.sys.executable, "-c", code, str(f)], capture_output=True, text=True, env=engine_env("docker"), timeout=600)
        assert out.returncode == 0, out.stderr
        assert tag in json.loads(out.stdout[:out.stdout.rindex("}") + 1])["images"]  # it was loaded
        peak_kib = int(out.stdout.strip().splitlines()[-1])
        assert peak_kib < 200 * 1024, f"mambaenv docker load peaked at {peak_kib // 1024} MiB for a {size >> 20} MiB image"
    finally:
        docker_engine.remove_image(tag)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss > 0


def test_the_repos_dockerfile_builds_with_plain_docker_and_no_network(docker_engine, tmp_path):
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
    c = docker_engine.eng.client
    c.images.build(path=str(ctx), buildargs={"BASE_IMAGE": docker_engine.base}, tag=tag, network_mode="none", rm=True)
    try:
        out = c.containers.run(tag, ["python3", "-c", "import causal_conv1d, einops; print(causal_conv1d.__version__)"],
                               network_mode="none", remove=True)
        assert out.decode().strip() == "1.5.0.post8"
    finally:
        c.images.remove(tag, force=True)


def test_build_refuses_input_that_would_make_an_image_without_the_kernels(docker_engine, tmp_path):
    """A typo'd path, a text file or only a dependency wheel used to give an image with no mamba_ssm, exit 0."""
    from tests.fixture_builders import wheelhouse

    text = tmp_path / "notes.txt"
    text.write_text("not a wheel")
    dep = next(wheelhouse().glob("einops-*.whl"))
    cases = [(str(tmp_path / "missing.whl"), "no such file"), (str(text), "is not a wheel"), (str(dep), "no mamba_ssm or causal_conv1d wheel")]
    for wheel, words in cases:
        out = docker_engine.cli("docker", "build", "--base-image", docker_engine.base, "--wheel", wheel, "--tag", "mambaenv-test:never")
        assert out.returncode == 2 and words in out.stderr and "Traceback" not in out.stderr, (wheel, out.stderr)
    assert docker_engine.eng.image("mambaenv-test:never") is None


def test_a_project_that_holds_the_engines_socket_is_refused(tmp_path):
    """/var/run (a link to /run, where docker.sock lives) used to be mounted with only a warning."""
    for folder, words in (("/var/run", "system folder /run"), ("/", "root folder /")):
        link = tmp_path / f"innocent-{len(words)}"
        link.symlink_to(folder)
        out = run_cli("docker", "run", str(link), "--image", "x", "--gpus", "none", *NET, "--", "true")
        assert out.returncode == 7 and words in out.stderr, out.stderr
    sock_dir = tmp_path / "engine"
    sock_dir.mkdir()
    import socket

    s = socket.socket(socket.AF_UNIX)
    s.bind(str(sock_dir / "docker.sock"))
    try:
        out = run_cli("docker", "run", str(sock_dir), "--image", "x", "--gpus", "none", *NET, "--", "true",
                      env={"DOCKER_HOST": f"unix://{sock_dir / 'docker.sock'}"})
        assert out.returncode == 7 and "holds the container engine's socket" in out.stderr, out.stderr
    finally:
        s.close()


# --- CDI: a made-up device kind whose edits (an env var, a mount) show that the container got it through mambaenv --

FAKE_KIND = "example.com/fake"


@pytest.fixture
def fake_cdi_spec(tmp_path):
    """A CDI spec for example.com/fake in /var/run/cdi (Podman 4.3 reads only /etc/cdi and /var/run/cdi): no device
    node, only an env var and a read-only mount of a folder holding a marker file."""
    folder = Path("/var/run/cdi")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except PermissionError:
        pytest.skip("/var/run/cdi is not writable here (the CDI tests need root)")
    shared = tmp_path / "fake-device-files"
    shared.mkdir()
    (shared / "marker").write_text("reached through CDI")
    spec = folder / f"mambaenv-test-{uuid.uuid4().hex[:8]}.json"
    spec.write_text(json.dumps({"cdiVersion": "0.5.0", "kind": FAKE_KIND, "devices": [
        {"name": "all", "containerEdits": {"env": ["FAKE_DEVICE=all"]}},
        {"name": "0", "containerEdits": {"env": ["FAKE_DEVICE=0"]}}],
        "containerEdits": {"env": ["FAKE_VENDOR=example"],
                           "mounts": [{"hostPath": str(shared), "containerPath": "/fake", "options": ["ro", "bind"]}]}}))
    yield spec
    spec.unlink()


def test_a_cdi_device_reaches_the_container_through_mambaenv(engine, built, project, fake_cdi_spec):
    show = "echo device=$FAKE_DEVICE vendor=$FAKE_VENDOR; cat /fake/marker"
    out = engine.cli("docker", "run", str(project), "--image", built, "--gpus", "none", "--device", f"{FAKE_KIND}=0", *NET, "--", "sh", "-c", show)
    if engine.name == "docker":  # this machine's Docker (20.10) predates CDI: refused, with the fix
        assert out.returncode == 7 and "cannot pass CDI devices" in out.stderr and "Docker 25" in out.stderr
        return
    assert out.returncode == 0, out.stderr
    assert "device=0 vendor=example" in out.stdout and "reached through CDI" in out.stdout
    plain = engine.cli("docker", "run", str(project), "--image", built, "--gpus", "none", *NET, "--", "sh", "-c", show)
    assert "vendor=example" not in plain.stdout  # without the device, none of its edits


def test_gpus_become_cdi_devices_of_the_gpu_kind(engine, built, project, fake_cdi_spec):
    """--gpus all|N|ids asks for nvidia.com/gpu devices by CDI; MAMBAENV_CDI_GPU_KIND (the seam for a machine with no
    GPU) points it at the fake kind, so the container shows which device it was given."""
    if engine.name == "docker":
        pytest.skip("this machine's Docker predates CDI")
    env = {"MAMBAENV_ENGINE": engine.name, "MAMBAENV_CDI_GPU_KIND": FAKE_KIND}
    for gpus, device in (("all", "all"), ("1", "0"), ("0", "0")):  # 1: a count (the first GPU); 0 alone: GPU 0
        out = run_cli("docker", "run", str(project), "--image", built, "--gpus", gpus, *NET, "--", "sh", "-c", "echo device=$FAKE_DEVICE",
                      env=env)
        assert out.returncode == 0 and f"device={device}" in out.stdout, (gpus, out.stderr)


def test_doctor_reports_gpu_cdi_specs_present_and_absent(tmp_path):
    """doctor reads the CDI folders for nvidia.com/gpu: a spec (as nvidia-ctk writes it, YAML) there means GPUs reach
    Podman's containers; none means the nvidia-ctk command to make one."""
    if connect("podman") is None and connect("podman-cli") is None:
        pytest.skip("no Podman here")
    specs = tmp_path / "cdi"
    specs.mkdir()
    env = {"MAMBAENV_ENGINE": "podman", "MAMBAENV_CDI_SPEC_DIRS": str(specs)}
    absent = run_cli("doctor", "--offline", "--json", env=env)
    check = next(c for c in json.loads(absent.stdout)["checks"] if c["name"] == "docker")
    assert check["status"] == "warn" and "no CDI spec for nvidia.com/gpu" in check["detail"] and "nvidia-ctk cdi generate" in check["fix"]
    (specs / "nvidia.yaml").write_text('---\ncdiVersion: 0.5.0\ncontainerEdits:\n  deviceNodes:\n  - path: /dev/nvidiactl\n'
                                       'devices:\n- containerEdits:\n    deviceNodes:\n    - path: /dev/nvidia0\n  name: "0"\n'
                                       '- containerEdits:\n    deviceNodes:\n    - path: /dev/nvidia0\n  name: all\nkind: nvidia.com/gpu\n')
    present = run_cli("doctor", "--offline", "--json", env=env)
    check = next(c for c in json.loads(present.stdout)["checks"] if c["name"] == "docker")
    assert check["status"] == "pass" and "GPUs through CDI (nvidia.com/gpu=0, nvidia.com/gpu=all)" in check["detail"]
    assert json.loads(present.stdout)["host"]["docker"]["kind"] == "podman"


# --- rootless Podman: the files a container makes in /workspace belong to the person who runs Podman ---------------

@pytest.fixture
def rootless():
    """The rootless Podman service of ROOTLESS_USER (tools/start_podman.py), reached as CONTAINER_HOST."""
    import pwd

    try:
        user = pwd.getpwnam(ROOTLESS_USER)
    except KeyError:
        user = None
    socket = f"/run/user/{user.pw_uid}/podman/podman.sock" if user else None
    env = dict(os.environ, CONTAINER_HOST=f"unix://{socket}")
    env.pop("MAMBAENV_ENGINE", None)
    env.pop("DOCKER_HOST", None)
    eng = connect_env(env) if socket else None
    if eng is None or not eng.facts.rootless:
        if os.environ.get("MAMBAENV_REQUIRE_PODMAN"):
            raise RuntimeError(f"MAMBAENV_REQUIRE_PODMAN is set but no rootless Podman answers for {ROOTLESS_USER}")
        pytest.skip("no rootless Podman service here (tools/start_podman.py starts one)")
    from tests.fixture_builders import podman_base_image

    base = podman_base_image(("runuser", "-u", ROOTLESS_USER, "--", "env", f"XDG_RUNTIME_DIR=/run/user/{user.pw_uid}"))
    return user, env, base


def connect_env(env: dict):
    try:
        return d.engine(timeout=120, env=env)
    except Exception:
        return None


def test_rootless_podman_keeps_the_callers_uid_for_files_in_the_workspace(rootless):
    import tempfile

    user, env, base = rootless
    project = Path(tempfile.mkdtemp(prefix="mambaenv-rootless-", dir="/tmp"))
    try:
        os.chown(project, user.pw_uid, user.pw_gid)
        out = run_cli("docker", "run", str(project), "--image", base, "--gpus", "none", *NET, "--json", "--",
                      "sh", "-c", "id -u; touch /workspace/made-inside", env=env)
        assert out.returncode == 0, out.stderr
        # the same uid inside as outside (keep-id); without it the run was --user 0:0, the caller's ids here
        assert json.loads(out.stdout)["output"].split()[0] == str(user.pw_uid)
        st = (project / "made-inside").stat()
        assert (st.st_uid, st.st_gid) == (user.pw_uid, user.pw_gid)
    finally:
        import shutil

        shutil.rmtree(project, ignore_errors=True)


# --- Apptainer: a SIF, or the commands for the cluster ---------------------------------------------------------------

def test_export_without_apptainer_writes_the_tar_and_says_what_to_run_on_the_cluster(docker_engine, tmp_path):
    import shutil

    if shutil.which("apptainer") or shutil.which("singularity"):
        pytest.skip("apptainer is installed here: export makes the SIF itself")
    out = docker_engine.cli("docker", "export", docker_engine.base, "--sif", str(tmp_path / "mamba.sif"), "--json")
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert answer["sif"] is None and answer["tar"] == str(tmp_path / "mamba.tar")
    with tarfile.open(tmp_path / "mamba.tar") as t:  # a docker-archive, as apptainer build docker-archive:// reads it
        manifest = json.load(t.extractfile("manifest.json"))
    assert docker_engine.base in manifest[0]["RepoTags"]
    if shutil.which("podman"):  # apptainer reads docker-archive:// with containers/image, as podman load does (own storage)
        import tempfile

        with tempfile.TemporaryDirectory(prefix="me-run-") as run:  # podman wants a runroot path under 50 characters
            store = ["--root", str(tmp_path / "store"), "--runroot", run, "--storage-driver", "vfs"]
            read = subprocess.run(["podman", *store, "load", "--input", str(tmp_path / "mamba.tar")], capture_output=True, text=True)
            subprocess.run(["podman", *store, "system", "reset", "--force"], capture_output=True)
        assert read.returncode == 0 and "Loaded image" in read.stdout and docker_engine.base in read.stdout, read.stdout + read.stderr
    assert "apptainer build mamba.sif docker-archive://mamba.tar" in answer["next"]
    assert any(line.startswith("apptainer exec --nv --bind") and "mamba.sif" in line for line in answer["next"])
    text = docker_engine.cli("docker", "export", docker_engine.base, "--sif", str(tmp_path / "mamba.sif"))
    assert "no apptainer (or singularity) here" in text.stdout and "apptainer build mamba.sif docker-archive://mamba.tar" in text.stdout
    bad = docker_engine.cli("docker", "export", docker_engine.base, "--sif", str(tmp_path / "mamba.img"))
    assert bad.returncode == 2 and "does not end in .sif" in bad.stderr


# --- which engine: the order a Docker or Podman user expects (a pure function of the environment and what exists) --

def test_the_engine_is_chosen_as_docker_and_podman_users_expect():
    from mambaenv.detect.engine_facts import choose_endpoint

    docker_sock, root_podman, user_podman = "/var/run/docker.sock", "/run/podman/podman.sock", "/run/user/1000/podman/podman.sock"
    cases = [  # env, sockets present, podman binary, uid -> (kind, via, address, chosen_by)
        ({}, {docker_sock, root_podman}, "/usr/bin/podman", 0, ("docker", "api", f"unix://{docker_sock}", f"found {docker_sock}")),
        ({}, {root_podman}, "/usr/bin/podman", 0, ("podman", "api", f"unix://{root_podman}", f"found {root_podman}")),
        ({"XDG_RUNTIME_DIR": "/run/user/1000"}, {root_podman, user_podman}, "/usr/bin/podman", 1000,
         ("podman", "api", f"unix://{user_podman}", f"found {user_podman}")),  # a user's own Podman, not root's
        ({}, set(), "/usr/bin/podman", 1000, ("podman", "cli", "/usr/bin/podman", "podman on PATH")),
        ({"DOCKER_HOST": "unix:///run/podman/podman.sock"}, {docker_sock}, None, 0,
         ("docker", "api", "unix:///run/podman/podman.sock", "DOCKER_HOST")),  # /version then says it is Podman
        ({"CONTAINER_HOST": "unix:///x.sock"}, {docker_sock}, None, 0, ("podman", "api", "unix:///x.sock", "CONTAINER_HOST")),
        ({"CONTAINER_HOST": "ssh://me@gpu7/run/podman.sock"}, set(), "/usr/bin/podman", 0, ("podman", "cli", "/usr/bin/podman", "CONTAINER_HOST")),
        ({"MAMBAENV_ENGINE": "podman", "DOCKER_HOST": "tcp://x:2375"}, {docker_sock, root_podman}, "/usr/bin/podman", 0,
         ("podman", "api", f"unix://{root_podman}", "MAMBAENV_ENGINE=podman")),  # the explicit choice wins
        ({"MAMBAENV_ENGINE": "podman"}, {docker_sock}, "/usr/bin/podman", 0, ("podman", "cli", "/usr/bin/podman", "MAMBAENV_ENGINE=podman")),
        ({"MAMBAENV_ENGINE": "podman-cli"}, {root_podman}, "/usr/bin/podman", 0, ("podman", "cli", "/usr/bin/podman", "MAMBAENV_ENGINE=podman-cli")),
        ({"MAMBAENV_ENGINE": "docker"}, {root_podman}, "/usr/bin/podman", 0, ("docker", "api", f"unix://{docker_sock}", "MAMBAENV_ENGINE=docker")),
    ]
    for env, sockets, podman, uid, want in cases:
        got = choose_endpoint(env, sockets, podman, uid)
        assert (got.kind, got.via, got.address, got.chosen_by) == want, (env, sockets)
    assert choose_endpoint({}, set(), None, 0) is None


def test_an_unknown_engine_is_one_line(tmp_path):
    out = run_cli("docker", "--engine", "lxc", "ps")
    assert out.returncode == 2 and "--engine lxc names no engine" in out.stderr and out.stderr.count("\n") == 1
    out = run_cli("docker", "ps", env={"MAMBAENV_ENGINE": "lxc"})
    assert out.returncode == 7 and "MAMBAENV_ENGINE=lxc names no engine" in out.stderr


def test_the_engine_option_picks_podman_for_the_command(engine):
    """--engine on the docker group: the same as MAMBAENV_ENGINE (ps talks to the engine named)."""
    out = run_cli("docker", "--engine", engine.name, "ps", "--json", env={"MAMBAENV_ENGINE": ""})
    assert out.returncode == 0, out.stderr
    doctor = run_cli("doctor", "--offline", "--json", env={"MAMBAENV_ENGINE": engine.name})
    facts = json.loads(doctor.stdout)["host"]["docker"]
    assert (facts["kind"], facts["via"]) == ({"docker": ("docker", "api"), "podman": ("podman", "api"), "podman-cli": ("podman", "cli")}[engine.name])


def test_gpus_as_cdi_names():
    from mambaenv.detect.engine_facts import cdi_names

    assert cdi_names("all") == ["nvidia.com/gpu=all"]
    assert cdi_names("2") == ["nvidia.com/gpu=0", "nvidia.com/gpu=1"]  # a count: the first N
    assert cdi_names("0") == ["nvidia.com/gpu=0"] and cdi_names("1,3") == ["nvidia.com/gpu=1", "nvidia.com/gpu=3"]
    assert cdi_names("GPU-5f1c", "example.com/fake") == ["example.com/fake=GPU-5f1c"] and cdi_names("none") == []


def test_an_interactive_shell_gets_a_terminal_and_leaves_no_container(engine, built, project):
    """No command: a shell in a new container, attached to the terminal by the engine's CLI, removed when it ends."""
    import shlex
    import shutil
    import sys

    if not shutil.which("script"):
        pytest.skip("util-linux's script (a terminal for the test) is not installed")
    before = {c.id for c in our_containers(engine, project)}
    cmd = shlex.join([sys.executable, "-m", "mambaenv", "docker", "run", str(project), "--image", built, "--gpus", "none", *NET])
    out = subprocess.run(["script", "-qec", cmd, "/dev/null"], input="echo inside-$((6*7)) $(pwd); exit 3\n", capture_output=True,
                         text=True, env=engine_env(engine.name), timeout=120)
    assert "inside-42 /workspace" in out.stdout.replace("\r", ""), out.stdout[-500:] + out.stderr[-500:]
    assert out.returncode == 3  # the shell's own exit status
    assert {c.id for c in our_containers(engine, project)} == before
