"""Detection on captured real outputs, and on a real venv with the real CPU torch wheel."""
import http.server
import json
import os
import socketserver
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from mambaenv.detect.driver_cuda import driver_supports, max_cuda_for_driver
from mambaenv.detect.host import (
    detect_docker,
    detect_toolkit,
    parse_nvcc_version,
    parse_nvidia_smi_csv,
    parse_proc_driver_version,
)
from mambaenv.detect.pyenv import probe_python
from tests.conftest import FIXTURES, run_cli

OUT = FIXTURES / "outputs"


def read(name):
    return (OUT / name).read_text()


def test_proc_driver_version_both_kernel_module_flavours():
    assert parse_proc_driver_version(read("proc_driver_version_h200.txt")) == "580.159.04"
    assert parse_proc_driver_version(read("proc_driver_version_open.txt")) == "535.104.05"


def test_nvidia_smi_query_gives_each_gpu_and_its_capability():
    drv, gpus = parse_nvidia_smi_csv(read("nvidia_smi_query_mixed.csv"))
    assert drv == "525.85.12"
    assert [(g.name, g.compute_capability, g.memory_mib) for g in gpus] == [
        ("NVIDIA GeForce RTX 3090", "8.6", 24576), ("Tesla V100-SXM2-32GB", "7.0", 32768)]


def test_driver_to_cuda_table():
    assert max_cuda_for_driver("580.159.04") == "13.0"
    assert max_cuda_for_driver("535.104.05") == "12.2"
    assert max_cuda_for_driver("525.85.12") == "12.0"
    assert not driver_supports("525.85.12", "12.1")
    assert driver_supports("520.61.05", "11.8") and not driver_supports("470.1", "11.8")


def test_nvcc_version_and_toolkit_found_through_cuda_home(tmp_path):
    assert parse_nvcc_version(read("nvcc_118.txt")) == "11.8"
    assert parse_nvcc_version(read("nvcc_130.txt")) == "13.0"
    fake = tmp_path / "cuda-11.8" / "bin"
    fake.mkdir(parents=True)
    nvcc = fake / "nvcc"  # a stand-in that prints nvcc's real text
    nvcc.write_text(f"#!/bin/sh\ncat {OUT / 'nvcc_118.txt'}\n")
    nvcc.chmod(0o755)
    tk = detect_toolkit({"CUDA_HOME": str(tmp_path / "cuda-11.8"), "PATH": "/nonexistent"})
    assert tk.version == "11.8" and tk.nvcc == str(nvcc)


def test_probe_reads_torch_facts_from_files_without_importing_it(torch_venv):
    facts = probe_python(str(torch_venv))
    assert facts.torch["version"].startswith("2.13.0")
    assert facts.torch["cuda"] is None and facts.torch["hip"] is None
    assert facts.torch["cxx11_abi"] is True  # torch 2.7+ release builds use the new ABI
    assert facts.package_version("torch").startswith("2.13.0")
    assert facts.raw["is_venv"] is True
    assert "deep" not in facts.raw


def test_deep_probe_confirms_by_importing_torch(torch_venv):
    deep = probe_python(str(torch_venv), deep=True).deep
    assert deep["cxx11_abi"] is True and deep["cuda"] is None and deep["cuda_available"] is False


def test_doctor_on_a_cpu_torch_venv_says_why_and_exits_nonzero(torch_venv):
    out = run_cli("doctor", "--python", str(torch_venv), "--json", "--offline")
    assert out.returncode == 1
    data = json.loads(out.stdout)
    checks = {c["name"]: c for c in data["checks"]}
    assert checks["torch"]["status"] == "fail" and "CPU-only" in checks["torch"]["detail"]
    assert data["packages"][0]["file"] is None and "CPU-only" in data["packages"][0]["reason"]
    assert set(data) == {"ok", "host", "pyenv", "target", "checks", "packages"}


def test_doctor_human_report_names_the_fix(torch_venv):
    out = run_cli("doctor", "--python", str(torch_venv), "--offline")
    assert out.returncode == 1
    assert "CPU-only" in out.stdout and "fix:" in out.stdout


def test_doctor_for_a_missing_interpreter_is_one_line(tmp_path):
    out = run_cli("doctor", "--python", str(tmp_path / "nope" / "python"))
    assert out.returncode == 2 and "no Python interpreter" in out.stderr


def test_env_by_venv_directory(torch_venv, tmp_path):
    # Run from a PATH and env where the default interpreter is another one: only --env can lead to the torch venv.
    env = {"PATH": "/usr/bin:/bin", "VIRTUAL_ENV": "", "CONDA_PREFIX": ""}
    out = run_cli("doctor", "--env", str(Path(torch_venv).parent.parent), "--json", "--offline", env=env)
    pyenv = json.loads(out.stdout)["pyenv"]
    assert pyenv["python_path"] == str(torch_venv)
    assert pyenv["torch"]["version"].startswith("2.13.0")
    without = json.loads(run_cli("doctor", "--json", "--offline", env=env).stdout)["pyenv"]
    assert without["python_path"] != str(torch_venv)  # the check above would fail if --env were ignored


def test_driver_from_proc_when_nvml_is_absent(tmp_path, monkeypatch):
    from mambaenv.detect import host

    (tmp_path / "driver" / "nvidia").mkdir(parents=True)
    (tmp_path / "driver" / "nvidia" / "version").write_text(read("proc_driver_version_h200.txt"))
    monkeypatch.setenv("PATH", "/nonexistent")  # no nvidia-smi either
    facts = host.detect_nvidia(proc_root=str(tmp_path))
    assert (facts.driver, facts.max_cuda, facts.source) == ("580.159.04", "13.0", "proc")
    assert any(n.startswith("nvml:") for n in facts.notes)


def test_doctor_warns_when_torch_moved_under_installed_wheels(tmp_path):
    import subprocess
    import sys

    venv = tmp_path / "v"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python*/site-packages"))
    (site / "torch").mkdir()
    (site / "torch" / "version.py").write_text("__version__ = '2.5.1+cu124'\ncuda = '12.4'\nhip = None\n")
    (site / "torch-2.5.1+cu124.dist-info").mkdir()
    (site / "mambaenv-installed.json").write_text(json.dumps({"torch": "2.4.0+cu124", "wheels": ["x.whl"]}))
    out = run_cli("doctor", "--python", str(venv / "bin" / "python"), "--json", "--offline")
    checks = {c["name"]: c for c in json.loads(out.stdout)["checks"]}
    assert checks["torch-moved"]["status"] == "warn" and "2.4.0+cu124" in checks["torch-moved"]["detail"]


def test_the_probe_script_gets_its_package_table_from_packages_py():
    """probe_script.py runs stdlib-only in the target env: the package table is written into it, never copied by hand."""
    import re

    from mambaenv.detect.pyenv import probe_source
    from mambaenv.packages import TABLE

    assert re.search(r"^EXTENSIONS = \{\}$", (Path(__file__).resolve().parent.parent / "mambaenv" / "detect" / "probe_script.py").read_text(), re.M)
    scope: dict = {}
    exec(probe_source().replace('if __name__ == "__main__":', "if False:"), scope)
    assert scope["EXTENSIONS"] == {p.name: p.extensions[0] for p in TABLE}
    assert set(scope["EXTENSIONS"]) <= set(scope["PACKAGES"])


# --- the Docker engine, asked over its socket without the SDK ---------------------------------------

class _EngineHandler(http.server.BaseHTTPRequestHandler):
    answers = {"/info": {"ServerVersion": "99.0.1", "Runtimes": {"runc": {}, "nvidia": {"path": "nvidia-container-runtime"}}},
               "/version": {"Version": "99.0.1", "Components": [{"Name": "Engine", "Version": "99.0.1"}]}}

    def do_GET(self):
        body = json.dumps(self.answers[self.path]).encode() if self.path in self.answers else b"{}"
        self.send_response(200 if self.path in self.answers else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class _UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self):  # BaseHTTPRequestHandler wants a (host, port) client address
        sock, _ = self.socket.accept()
        return sock, ("local", 0)


def test_an_engine_on_a_unix_socket_is_read_without_the_sdk(tmp_path, monkeypatch):
    """An engine with the NVIDIA runtime cannot run here: a real HTTP server on a Unix socket answers as one would."""
    path = str(tmp_path / "engine.sock")
    server = _UnixHTTPServer(path, _EngineHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
        facts = detect_docker()
    finally:
        server.shutdown()
        server.server_close()
    assert facts.reachable and facts.server_version == "99.0.1" and facts.nvidia_runtime
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'missing.sock'}")
    gone = detect_docker()
    assert not gone.reachable and "missing.sock" in gone.note


def test_doctor_loads_no_docker_sdk_for_a_local_engine():
    code = ("import sys; from mambaenv.detect.host import detect_docker; detect_docker(); "
            "print('docker' in sys.modules, 'requests' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parent.parent)
    assert out.stdout.split() == ["False", "False"], out.stdout + out.stderr


def test_the_local_engine_answers_as_the_sdk_sees_it():
    docker = pytest.importorskip("docker")
    try:
        version = docker.from_env(version="auto").version()["Version"]
    except Exception:
        if os.environ.get("MAMBAENV_REQUIRE_DOCKER"):  # CI: the engine must be there
            raise
        pytest.skip("no Docker engine running")
    facts = detect_docker()
    assert facts.reachable and facts.server_version == version


def test_engine_addresses_are_read_as_the_sdk_reads_them():
    from mambaenv.detect.docker_engine import DEFAULT_SOCKET, local_socket

    assert local_socket(None) == local_socket("") == local_socket("  ") == DEFAULT_SOCKET
    assert local_socket("unix:///run/user/1000/docker.sock\n") == "/run/user/1000/docker.sock"
    assert local_socket("unix://var/run/docker.sock") == "/var/run/docker.sock"  # the SDK reads this one as absolute
    assert local_socket("unix://") == DEFAULT_SOCKET
    assert local_socket("tcp://127.0.0.1:2375") is None and local_socket("ssh://me@host") is None


def test_an_engine_that_drips_or_floods_or_is_not_a_socket_is_a_note_in_bounded_time(tmp_path, monkeypatch):
    import socket as socketlib
    import time

    from mambaenv.detect.docker_engine import MAX_INFO_BYTES

    def serve(path, answer):
        listener = socketlib.socket(socketlib.AF_UNIX, socketlib.SOCK_STREAM)
        listener.bind(path)
        listener.listen(4)

        def run():
            conn, _ = listener.accept()
            conn.recv(4096)
            try:
                answer(conn)
            except OSError:
                pass

        threading.Thread(target=run, daemon=True).start()
        return listener

    def drip(conn):
        for ch in b"HTTP/1.1 200 OK\r\n":
            conn.sendall(bytes([ch]))
            time.sleep(0.5)

    def flood(conn):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n")
        chunk = b" " * 65536
        for _ in range(MAX_INFO_BYTES // len(chunk) + 2):
            conn.sendall(chunk)

    for name, answer, words in (("drip.sock", drip, "did not answer within"), ("flood.sock", flood, "more than 4 MiB")):
        path = str(tmp_path / name)
        listener = serve(path, answer)
        monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
        t0 = time.monotonic()
        facts = detect_docker(timeout=1.0)
        listener.close()
        assert not facts.reachable and words in facts.note and time.monotonic() - t0 < 3, (name, facts.note)
    plain = tmp_path / "plain-file"
    plain.write_text("x")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{plain}")
    facts = detect_docker()
    assert not facts.reachable and "is not a socket" in facts.note
