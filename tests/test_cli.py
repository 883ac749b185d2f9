"""The front door as a user meets it: help, completion, exit codes, --python, explicit facts, plain output in logs."""
import json
import re
import sys
from pathlib import Path

import pytest
import typer.main

from mambaenv import __version__
from mambaenv.cli import app
from mambaenv.errors import ExitCode, MambaenvError
from tests.conftest import run_cli
from tests.httpserver import LoopbackServer, Route, sha256
from tests.wheels import wheel_bytes, write_wheel

SEAM = {"MAMBAENV_ASSUME_TORCH_CUDA": "12.8"}  # the GPU seam: the CPU torch fixture stands for a CUDA 12 build
MAMBA = "mamba_ssm-2.2.4+cu12torch2.13cxx11abiTRUE-cp311-cp311-linux_x86_64.whl"
CAUSAL = "causal_conv1d-1.5.0.post8+cu12torch2.13cxx11abiTRUE-cp311-cp311-linux_x86_64.whl"
FACTS = ["--python", "3.11", "--torch", "2.13.0", "--torch-cuda", "12.8", "--cxx11abi", "true"]


# --- help, completion, version, exit codes -------------------------------------------------------

def test_help_shows_the_exit_code_table_and_completion_and_no_bool_metavar():
    out = run_cli("--help")
    assert out.returncode == 0
    assert "Exit codes" in out.stdout and "--install-completion" in out.stdout
    for code in ExitCode:
        assert re.search(rf"^\W*{int(code)}\s+{code.name.lower()}:", out.stdout, re.M), code
    install = run_cli("install", "--help").stdout
    assert "--force" in install and "<bool>" not in install and "<bool>" not in out.stdout


def test_every_option_and_argument_has_help():
    missing = []

    def walk(cmd, path):
        for p in cmd.params:
            if not getattr(p, "help", None) and p.name != "help":
                missing.append(f"{path} {p.opts[0] if p.opts else p.name}")
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, f"{path} {name}")

    walk(typer.main.get_command(app), "mambaenv")
    assert not missing, missing


def test_version():
    out = run_cli("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"mambaenv {__version__}"


def test_exit_codes_come_from_one_table_without_collisions():
    import importlib
    import pkgutil

    import mambaenv

    for m in pkgutil.walk_packages(mambaenv.__path__, "mambaenv."):
        if not m.name.endswith(("probe_script", "smoke_script", "__main__")):
            importlib.import_module(m.name)

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    codes = {cls.__name__: cls.exit_code for cls in subclasses(MambaenvError)}
    assert codes and all(code in set(ExitCode) for code in codes.values()), codes
    assert len({int(c) for c in ExitCode}) == len(ExitCode)
    from mambaenv.errors import DownloadError

    assert DownloadError.exit_code == ExitCode.DOWNLOAD_FAILED != ExitCode.NO_CUDA_DEVICE


def test_no_exit_code_is_a_bare_number_in_mambaenv():
    """Codes come by name from errors.ExitCode: no `exit_code = 3`, no `typer.Exit(6)` (0 is allowed: --version)."""
    import ast
    from pathlib import Path

    import mambaenv

    root = Path(mambaenv.__file__).parent
    found = []
    for path in root.rglob("*.py"):
        if path.name in ("probe_script.py", "smoke_script.py"):
            continue  # run in the target env, stdlib only: their own numbers, mapped by the CLI
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = [t.id if isinstance(t, ast.Name) else getattr(t, "attr", None) for t in targets]
                if "exit_code" in names and isinstance(node.value, ast.Constant) and isinstance(node.value.value, int):
                    found.append(f"{path.name}:{node.lineno}")
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "Exit":
                arg = node.args[0] if node.args else None
                if isinstance(arg, ast.Constant) and isinstance(arg.value, int) and arg.value != 0:
                    found.append(f"{path.name}:{node.lineno}")
            elif isinstance(node, ast.keyword) and node.arg == "exit_code" and isinstance(node.value, ast.Constant) \
                    and isinstance(node.value.value, int):
                found.append(f"{path.name}:{node.lineno}")
    assert not found, found


# --- --python: a version or an interpreter, decided by its form ----------------------------------

def test_python_version_finds_that_interpreter_on_path(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    major_minor = f"{sys.version_info.major}.{sys.version_info.minor}"
    (bindir / f"python{major_minor}").symlink_to(sys.executable)
    env = {"PATH": f"{bindir}:/usr/bin:/bin", "VIRTUAL_ENV": "", "CONDA_PREFIX": ""}
    out = run_cli("doctor", "--python", major_minor, "--json", "--offline", env=env)
    assert json.loads(out.stdout)["pyenv"]["python_path"] == str(bindir / f"python{major_minor}")
    missing = run_cli("doctor", "--python", "3.99", "--offline", env=env)
    assert missing.returncode == ExitCode.BAD_INPUT and "no Python 3.99 interpreter on PATH" in missing.stderr


def test_python_path_with_explicit_torch_is_refused_in_one_line():
    out = run_cli("resolve", "--offline", "--python", sys.executable, "--torch", "2.1.2", "--cxx11abi", "false")
    assert out.returncode == ExitCode.BAD_INPUT
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "is an interpreter" in lines[0] and "--python a version" in lines[0]


def test_bundle_probes_an_interpreter_path_and_an_env(tmp_path, torch_venv):
    wheel = write_wheel(tmp_path, MAMBA)
    for how in (["--python", str(torch_venv)], ["--env", str(Path(torch_venv).parent.parent)]):
        out = run_cli("bundle", "-o", str(tmp_path / "b.tar"), *how, "--wheel", str(wheel), "--index-url", "none", "--json", env=SEAM)
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["env"] == "Python 3.11, torch 2.13.0+cpu, CUDA 12.8"


# --- download and bundle take resolve's explicit facts ------------------------------------------

@pytest.fixture
def github():
    """A loopback server standing in for GitHub's API and, as the only mirror, its downloads."""
    with LoopbackServer() as srv:
        for repo, tag, name in (("state-spaces/mamba", "v2.2.4", MAMBA), ("Dao-AILab/causal-conv1d", "v1.5.0.post8", CAUSAL)):
            data = wheel_bytes(name.split("-")[0], name.split("-")[1].split("+")[0])
            url = f"https://github.com/{repo}/releases/download/{tag}/{name.replace('+', '%2B')}"
            srv.add(f"/repos/{repo}/releases", Route(json_body=[{"tag_name": tag, "assets": [
                {"name": name, "size": len(data), "digest": "sha256:" + sha256(data), "browser_download_url": url}]}]))
            srv.add("/gh/" + url, Route(body=data))
        srv.env = {"MAMBAENV_MIRROR": srv.url("/gh/"), "MAMBAENV_MIRROR_ONLY": "1"}
        assert run_cli("catalog", "refresh", "--api", srv.base, env=srv.env).returncode == 0
        yield srv


def test_resolve_for_another_machine_then_download_with_the_same_flags(tmp_path, github):
    urls = run_cli("resolve", *FACTS, env=github.env)
    assert urls.returncode == 0, urls.stderr
    out = run_cli("download", *FACTS, "--dest", str(tmp_path / "d"), "--json", env=github.env)
    assert out.returncode == 0, out.stderr
    files = sorted(Path(f["file"]).name for f in json.loads(out.stdout)["files"])
    assert files == sorted([CAUSAL, MAMBA])
    assert sorted(u.rsplit("/", 1)[-1].replace("%2B", "+") for u in urls.stdout.split()) == files


def test_a_failed_bundle_download_suggests_wheel_not_install(tmp_path):
    with LoopbackServer() as srv:  # a mirror that has nothing: every download fails with 404
        env = {"MAMBAENV_MIRROR": srv.url("/gh/"), "MAMBAENV_MIRROR_ONLY": "1"}
        out = run_cli("bundle", "-o", str(tmp_path / "b.tar"), "--python", "3.11", "--torch", "2.4.0", "--torch-cuda", "12.4",
                      "--cxx11abi", "false", "--offline-catalog", env=env)
        asked = [p for _, p, _ in srv.requests]
    assert out.returncode == ExitCode.DOWNLOAD_FAILED and asked  # the fault happened on the loopback mirror
    line = out.stderr.strip().splitlines()[-1]
    assert "--wheel FILE" in line and "install --offline-wheel" not in line
    assert not (tmp_path / "b.tar").exists()


# --- catalog list -------------------------------------------------------------------------------

def test_catalog_list_says_which_package_takes_all_and_explains_era_and_files():
    out = run_cli("catalog", "list", "--offline", "--package", "all")
    assert out.returncode == 0
    text = out.stdout
    assert re.search(r"^mamba_ssm \(state-spaces/mamba\): \d+ releases", text, re.M)
    assert re.search(r"^causal_conv1d \(Dao-AILab/causal-conv1d\): \d+ releases", text, re.M)
    assert re.search(r"^\s+v2\.3\.2\s+files 2\.3\.1\b", text, re.M)  # a tag carrying files of another version...
    assert "files of the previous version" in text  # ...and the line that says why
    assert "era C:" in text and "era A':" in text
    one = run_cli("catalog", "list", "--offline", "--package", "causal_conv1d")
    assert "causal_conv1d (" in one.stdout and "mamba_ssm (" not in one.stdout
    rows = json.loads(run_cli("catalog", "list", "--offline", "--json").stdout)["releases"]
    assert {r["package"] for r in rows} == {"mamba_ssm", "causal_conv1d"}


# --- wording ------------------------------------------------------------------------------------

def test_a_cpu_torch_reason_names_both_packages_and_is_not_repeated_as_item_one():
    out = run_cli("resolve", "--offline", "--python", "3.11", "--torch", "2.13.0", "--torch-cuda", "none", "--cxx11abi", "true")
    assert out.returncode == ExitCode.NO_WORKING_PATH
    lines = out.stderr.strip().splitlines()
    causal = next(line for line in lines if line.startswith("causal_conv1d:"))
    assert "mamba_ssm's kernels" not in causal and "causal_conv1d need a CUDA build" in causal
    assert not any(line.strip().startswith("1.") for line in lines)


def test_doctor_causal_row_does_not_speak_of_mamba_ssm_only(torch_venv):
    doc = json.loads(run_cli("doctor", "--python", str(torch_venv), "--json", "--offline").stdout)
    row = next(c for c in doc["checks"] if c["name"] == "wheel:causal_conv1d")
    assert "mamba_ssm's kernels" not in row["detail"] and "causal_conv1d" in row["detail"]


# --- output without a terminal ------------------------------------------------------------------

def test_progress_without_a_terminal_is_plain_periodic_lines(tmp_path):
    body = wheel_bytes("mamba_ssm", "2.2.4", payload_size=6 * 1024 * 1024)
    with LoopbackServer() as srv:
        route = srv.add("/" + MAMBA, Route(body=body, rate_bps=3 * 1024 * 1024))
        out = run_cli("download", "--url", srv.url("/" + MAMBA), "--segments", "1", "--dest", str(tmp_path),
                      env={"MAMBAENV_PROGRESS_EVERY_S": "0.4"})
    assert out.returncode == 0, out.stderr
    assert route.bytes_sent >= len(body)  # the throttle made it slow enough to report
    lines = out.stderr.strip().splitlines()
    progress = [line for line in lines if re.fullmatch(rf"{re.escape(MAMBA)}: \d+\.\d MB of 6\.\d MB \(\d+%\)", line)]
    assert len(progress) >= 2, lines
    assert re.fullmatch(rf"{re.escape(MAMBA)}: 6\.\d MB in \d+\.\d s", lines[-1])
    assert "\x1b[" not in out.stderr and "━" not in out.stderr and "\r" not in out.stderr


def test_docker_ps_says_when_there_is_nothing():
    from mambaenv import docker as d

    try:
        d.engine(timeout=5)
    except Exception:
        pytest.skip("no container engine answers here")
    listed = run_cli("docker", "ps", "--json")
    if json.loads(listed.stdout)["containers"]:
        pytest.skip("mambaenv containers of another run exist on this engine")
    out = run_cli("docker", "ps")
    assert out.returncode == 0 and out.stdout.startswith("no mambaenv containers")


def test_contradictory_explicit_facts_are_refused():
    """--torch 2.1.2+cu121 names CUDA 12.1; a --torch-cuda 11.8 beside it would silently pick a cu11 wheel."""
    out = run_cli("resolve", "--offline", "--python", "3.10", "--torch", "2.1.2+cu121", "--torch-cuda", "11.8", "--cxx11abi", "false")
    assert out.returncode == 2 and "says CUDA 12.1 but --torch-cuda is 11.8" in out.stderr and out.stdout == ""
    same = run_cli("resolve", "--offline", "--python", "3.10", "--torch", "2.1.2+cu121", "--torch-cuda", "12.1", "--cxx11abi", "false")
    assert same.returncode == 0 and "cu12torch2.1" in same.stdout


def test_mirror_only_without_a_mirror_says_so_at_once_and_asks_no_server(tmp_path):
    out = run_cli("download", "--url", "https://github.com/state-spaces/mamba/releases/download/v2.2.2/"
                  "mamba_ssm-2.2.2%2Bcu118torch2.0cxx11abiFALSE-cp38-cp38-linux_x86_64.whl", "--dest", str(tmp_path),
                  env={"MAMBAENV_MIRROR_ONLY": "1", "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"})
    assert out.returncode == 3 and "MAMBAENV_MIRROR_ONLY is set and no mirror is configured" in out.stderr
    assert "127.0.0.1" not in out.stderr  # no attempt was made, not even through the (dead) proxy


def test_an_interpreter_path_that_is_no_interpreter_gets_one_line(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("x")
    for given, words in ((str(text), "is not an executable interpreter"), (str(tmp_path), "is a folder, not an interpreter")):
        for cmd in (["doctor", "--offline"], ["resolve", "--offline"], ["smoke"]):
            out = run_cli(*cmd, "--python", given)
            assert out.returncode == 2 and words in out.stderr and "Traceback" not in out.stderr, (cmd, given, out.stderr)


def test_publish_into_a_file_is_refused_in_one_line(tmp_path):
    from tests.fixture_builders import fixture_wheel

    target = tmp_path / "wheelhouse"
    target.write_text("a file")
    out = run_cli("publish", str(fixture_wheel("mamba_ssm", "2.2.4")), "--to", str(target))
    assert out.returncode == 2 and "is a file, not a folder" in out.stderr and "Traceback" not in out.stderr
    assert target.read_text() == "a file"


def test_fixes_piped_into_a_log_are_not_folded_at_80_columns(torch_venv):
    """Into a pipe, a long fix (a path, an index URL) stays on one line, so that it can be copied whole."""
    import os
    import subprocess

    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    out = subprocess.run([sys.executable, "-m", "mambaenv", "doctor", "--offline", "--python", str(torch_venv)],
                         capture_output=True, text=True, env=env, timeout=120)
    command = f"{torch_venv} -m pip install torch --index-url https://download.pytorch.org/whl/cu"
    assert command in out.stdout, out.stdout[-1500:]
