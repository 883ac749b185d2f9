"""Command bodies: gather facts, call the pure parts, return data for the CLI to render."""
from __future__ import annotations

from mambaenv.catalog import load_catalog, repo_of, wheels_of
from mambaenv.config import cache_dir
from mambaenv.errors import BadInput
from mambaenv.facts import TargetEnv, check_cuda_version, check_machine, check_python_version, check_torch_version, cuda_from_torch_local
from mambaenv.resolve import resolve_all
from mambaenv.wheelname import PACKAGES


def doctor(python: str | None, env: str | None, deep: bool = False, offline: bool = False, with_docker: bool = True) -> dict:
    from concurrent.futures import ThreadPoolExecutor

    from mambaenv.detect.host import detect_host
    from mambaenv.detect.pyenv import choose_python, probe_python
    from mambaenv.doctor import doctor_checks, has_working_path

    exe = choose_python(python, env)
    # The probe is another process; host detection waits on NVML and the Docker socket: overlap them.
    with ThreadPoolExecutor(max_workers=1) as pool:
        probing = pool.submit(probe_python, exe, deep)
        host = detect_host(with_docker=with_docker)
        pyenv = probing.result()
    catalog = load_catalog(cache_dir(), offline=offline)
    target = pyenv.target()
    choices = resolve_all(catalog, target)
    installed, installed_error = installed_packages(exe, pyenv)
    checks = doctor_checks(host, pyenv, choices, installed, installed_error, last_smoke(exe))
    ok = has_working_path(checks, choices)
    return {
        "ok": ok,
        "checks": checks,
        "choices": choices,
        "json": {
            "ok": ok,
            "host": host.to_dict(),
            "pyenv": pyenv.to_dict(),
            "target": target.to_dict(),
            "checks": [c.to_dict() for c in checks],
            "packages": [c.to_dict() for c in choices],
        },
    }


def installed_packages(exe: str, pyenv):
    """The installed packages' extension facts, probed only when one of them is installed (it imports torch there)."""
    from mambaenv.detect.extensions import from_probe, probe_installed

    if not any(pyenv.package_version(p) for p in PACKAGES):
        return [], None
    raw = probe_installed(exe)
    if "error" in raw:
        return [], raw["error"]
    torch = raw.get("torch") or {}
    if "import_error" in torch:
        return [], f"torch does not import in {exe}: {torch['import_error']}"
    return from_probe(raw), None


def last_smoke(exe: str) -> dict | None:
    """The last smoke result recorded for this interpreter, if any."""
    import json
    import os

    path = cache_dir() / "smoke" / "last.json"
    try:
        last = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    same = last.get("python") and os.path.realpath(last["python"]) == os.path.realpath(exe)
    return last if same else None


def parse_bool(text: str | None, flag: str) -> bool | None:
    if text is None:
        return None
    t = text.lower()
    if t in ("true", "1", "yes"):
        return True
    if t in ("false", "0", "no"):
        return False
    raise BadInput(f"malformed {flag} value {text!r}", f"use {flag} true or {flag} false")


def explicit_target(python: str, torch: str, torch_cuda: str | None, cxx11abi: str | None, machine: str, ngc: str | None) -> TargetEnv:
    torch = check_torch_version(torch)
    cuda = check_cuda_version(torch_cuda) if torch_cuda is not None else cuda_from_torch_local(torch)
    abi = parse_bool(cxx11abi, "--cxx11abi")
    if abi is None:
        # Never guess the ABI from the version alone; without the flag, say so.
        raise BadInput("--cxx11abi is required with explicit facts", "run python -c 'import torch; print(torch._C._GLIBCXX_USE_CXX11_ABI)' on that machine")
    return TargetEnv(python=check_python_version(python), machine=check_machine(machine), torch=torch,
                     torch_cuda=cuda, cxx11_abi=abi, ngc_version=ngc, cuda_version_env=cuda if ngc else None)


def target_from_args(python, env, torch, torch_cuda, cxx11abi, machine, ngc) -> TargetEnv:
    if torch is not None:
        if not python:
            raise BadInput("--torch needs --python VERSION", "add e.g. --python 3.10")
        return explicit_target(python, torch, torch_cuda, cxx11abi, machine, ngc)
    import re

    from mambaenv.detect.pyenv import choose_python, probe_python

    if python and re.fullmatch(r"\d+\.\d+(\.\d+)?", python):
        raise BadInput(f"--python {python} is a version, which needs the other facts too",
                       "add --torch VERSION --torch-cuda X.Y --cxx11abi true|false, or give --python an interpreter path")
    return probe_python(choose_python(python, env)).target()


def resolve(package, package_version, python, env, torch, torch_cuda, cxx11abi, machine, ngc, offline):
    if package != "all" and package not in PACKAGES:
        raise BadInput(f"unknown package {package!r}", f"use one of {', '.join(PACKAGES)} or all")
    target = target_from_args(python, env, torch, torch_cuda, cxx11abi, machine, ngc)
    catalog = load_catalog(None if offline else cache_dir(), offline=offline)
    return resolve_all(catalog, target, package, package_version)


def catalog_refresh(api: str | None) -> dict:
    from mambaenv.catalog.github import refresh

    return refresh(cache_dir(), {p: repo_of(p) for p in PACKAGES}, api)


def catalog_list(package: str, offline: bool) -> list[dict]:
    if package not in PACKAGES:
        raise BadInput(f"unknown package {package!r}", f"use one of {', '.join(PACKAGES)}")
    catalog = load_catalog(None if offline else cache_dir(), offline=offline)
    return [{"tag": r.tag, "package_version": r.package_version, "era": r.era, "date": r.date,
             "wheels": len(wheels_of(r)), "no_wheels_reason": r.no_wheels_reason} for r in catalog.for_package(package)]


# --- download / bundle / install -----------------------------------------------------------------

def downloader(segments: int | None = None):
    from mambaenv.fetch import DEFAULT_SEGMENTS, Downloader

    return Downloader(cache_dir() / "downloads", segments=segments or DEFAULT_SEGMENTS)


def fetch_to(url: str, dest, sha256: str | None, size: int | None, mirrors, segments: int | None, show_progress: bool):
    """Fetch into the cache, then place a copy (a hard link when possible) at dest/<file name>."""
    import os
    import shutil
    from pathlib import Path

    from mambaenv.config import mirrors as configured_mirrors
    from mambaenv.fetch import rich_progress
    from mambaenv.wheel import verify_wheel_file
    from mambaenv.wheelname import filename_from_url

    name = filename_from_url(url)
    dl = downloader(segments)
    if show_progress:
        with rich_progress(name) as cb:
            got = dl.fetch(url, sha256, size, configured_mirrors(mirrors), name, cb, verify_wheel_file)
    else:
        got = dl.fetch(url, sha256, size, configured_mirrors(mirrors), name, None, verify_wheel_file)
    if dest is None:
        return got, got.path
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / name
    tmp = dest / f".{name}.mambaenv-tmp"
    tmp.unlink(missing_ok=True)
    try:
        os.link(got.path, tmp)
    except OSError:
        shutil.copyfile(got.path, tmp)
    os.replace(tmp, target)
    return got, target


def resolved_wheels(package: str, python, env, offline: bool):
    choices = resolve(package, None, python, env, None, None, None, "x86_64", None, offline)
    missing = [c for c in choices if not c.wheel]
    if missing:
        c = missing[0]
        from mambaenv.errors import MambaenvError

        alt = c.alternatives[0] if c.alternatives else None
        raise MambaenvError(f"no prebuilt {c.package} wheel fits: {c.reason}", (alt.command or alt.summary) if alt else None, exit_code=1)
    return choices


def install_cmd(offline_wheel, new_env, env, python, python_version, torch, torch_index, find_links, index_url,
                venv_only, force, mirror, quiet, no_deps=False, no_index=False):
    import tempfile
    from pathlib import Path

    from mambaenv.detect.host import detect_glibc
    from mambaenv.detect.pyenv import choose_python
    from mambaenv.errors import MambaenvError
    from mambaenv.install import NewEnv, install, open_offline_source

    if new_env and (env or python):
        raise MambaenvError("--new-env cannot go with --env or --python",
                            "use --new-env alone (with --python-version), or --env / --python for an existing env")
    links = [Path(p) for p in find_links]
    spec = None
    if new_env:
        spec = NewEnv(new_env, python_version, torch, torch_index, use_conda=False if venv_only else None)
    status_cb, ctx = _status(quiet)
    with ctx, tempfile.TemporaryDirectory(prefix="mambaenv-src-") as tmp:
        if offline_wheel:
            wheels, extra = open_offline_source(Path(offline_wheel), Path(tmp))
            links += extra
            offline = True
            resolver = None
        else:
            def resolver(py):
                """Resolve for the env as it is now (a new env has its torch by then), then download."""
                choices = resolved_wheels("all", py, None, False)
                return [fetch_to(c.wheel.url, Path(tmp), c.wheel.sha256, c.wheel.size, mirror, None, not quiet)[1] for c in choices]

            wheels, offline = [], no_index
        target = None if spec else choose_python(python, env)
        return install(wheels, python=target, new_env=spec, find_links=links, offline=offline, index_url=index_url,
                       force=force, host_glibc=detect_glibc(), status=status_cb, no_deps=no_deps, resolve_wheels=resolver)


def _status(quiet: bool):
    """A rich status line with elapsed time, or nothing for --json."""
    import contextlib

    if quiet:
        return None, contextlib.nullcontext()
    from mambaenv.render import err_console

    st = err_console.status("working")

    def cb(text):
        st.update(text)

    return cb, st


def smoke(python, env, bench: bool, quiet: bool):
    from mambaenv.detect.pyenv import choose_python
    from mambaenv.smoke import run_smoke

    exe = choose_python(python, env)
    cb, ctx = _status(quiet)
    with ctx:
        if cb:
            cb(f"running the Mamba kernels in {exe} (imports take ~10 s, a first Triton compile longer)")
        code, result = run_smoke(exe, bench)
    from mambaenv.smoke import record_smoke_result

    record_smoke_result(result, cache_dir(), exe)
    return code, result


def native_archs() -> list[str]:
    from mambaenv.detect.host import detect_nvidia
    from mambaenv.errors import MambaenvError

    caps = sorted({g.compute_capability for g in detect_nvidia().gpus if g.compute_capability})
    if not caps:
        raise MambaenvError("no GPU found to take the architecture from", "give it with --arch, e.g. --arch 9.0")
    return caps


def build_cmd(package, sdists, arch, jobs, python, env, version, index_url, dest, quiet):
    import tempfile
    from pathlib import Path

    from mambaenv.build import BuildPlan, build_many, check_toolchain, fetch_sdist, local_tag_for, max_jobs
    from mambaenv.detect.host import detect_toolkit
    from mambaenv.detect.pyenv import choose_python, probe_python
    from mambaenv.errors import MambaenvError

    names = list(PACKAGES) if package == "all" else [package]
    if any(n not in PACKAGES for n in names):
        raise BadInput(f"unknown package {package!r}", f"use one of {', '.join(PACKAGES)} or all")
    exe = choose_python(python, env)
    target = probe_python(exe).target()
    check_toolchain(detect_toolkit().version, target.torch_cuda)
    archs = None if arch == "upstream" else (native_archs() if arch == "native" else [a for a in arch.split(",") if a])
    out_dir = Path(dest) if dest else cache_dir() / "builds"
    local = local_tag_for(target.torch_cuda, target.torch, bool(target.cxx11_abi))
    per_job = jobs or max_jobs(len(names))
    workroot = Path(tempfile.mkdtemp(prefix="mambaenv-build-"))
    plans = []
    for n in names:
        given = [Path(s) for s in sdists if Path(s).name.startswith(n)]
        if sdists and not given:
            raise MambaenvError(f"no sdist for {n} among --sdist", f"add --sdist {n}-VERSION.tar.gz or --package")
        src = given[0] if given else fetch_sdist(n, version, workroot, exe, index_url)
        plans.append(BuildPlan(n, src, archs, per_job, exe, local, out_dir))
    cb, ctx = _status(quiet)
    with ctx:
        return build_many(plans, workroot, cb)


# --- docker --------------------------------------------------------------------------------------

def docker_build(base_image, wheels, bundle, tag, requirements, network, python, env, force, quiet):
    import tempfile
    from pathlib import Path

    from mambaenv import docker as d
    from mambaenv.bundle import download_dependencies
    from mambaenv.install import open_offline_source

    cb, ctx = _status(quiet)
    with ctx, tempfile.TemporaryDirectory(prefix="mambaenv-dsrc-") as tmp:
        if not base_image:
            from mambaenv.detect.pyenv import choose_python, probe_python

            target = probe_python(choose_python(python, env)).target()
            base_image = d.base_image_for(target.torch_major_minor, target.ngc_version)
        paths = [Path(w) for w in wheels]
        if bundle:
            pkgs, dirs = open_offline_source(Path(bundle), Path(tmp))
            paths = pkgs + [p for p in dirs[0].glob("*.whl") if p not in pkgs]
        target = None
        if not paths:
            target = d.probe_image(d.client(), base_image)
            paths = _wheels_for_image(target, Path(tmp), quiet)
            download_dependencies(paths, target, Path(tmp), None, [])
            paths += [p for p in Path(tmp).glob("*.whl") if p not in paths]
        pkgs = [p for p in paths if p.name.split("-", 1)[0] in PACKAGES]
        extra = [p for p in paths if p not in pkgs]
        return d.build_image(base_image, pkgs, tag, Path(requirements) if requirements else None, extra, force, network, cb, target)


def _wheels_for_image(target, dest, quiet):
    """Local builds from the cache first (mambaenv build), then the resolved upstream wheels."""
    from mambaenv.wheel import inspect_wheel, mismatches

    out = []
    builds = cache_dir() / "builds"
    for package in PACKAGES:
        local = [w for w in sorted(builds.glob(f"{package}-*.whl")) if not mismatches(inspect_wheel(w, read_elf=False), target)]
        if local:
            out.append(local[-1])
            continue
        choice = resolve_all(load_catalog(cache_dir()), target, package)[0]
        if not choice.wheel:
            from mambaenv.errors import MambaenvError

            raise MambaenvError(f"no {package} wheel for the image: {choice.reason}", "mambaenv build in a matching env, then --wheel FILE")
        out.append(fetch_to(choice.wheel.url, dest, choice.wheel.sha256, choice.wheel.size, [], None, not quiet)[1])
    return out


def docker_run(project, command, image, gpus, read_only, detach, network, shm_size, name, user, quiet):
    import sys
    from pathlib import Path

    from mambaenv import docker as d

    opts = d.run_options(Path(project), image, gpus, read_only, detach, command, network, shm_size, name, user)
    if not command and not detach:
        if not Path(project).is_dir():
            raise d.DockerError(f"no such project folder: {project}", "give the folder to mount at /workspace")
        d.check_gpu_runtime(d.client(), gpus, image)
        if not sys.stdin.isatty():
            raise d.DockerError("an interactive shell needs a terminal", "give a command after --, or --detach")
        return {"exit_code": d.exec_cli(d.cli_args(opts, interactive=True))}
    return d.run_container(opts, None if not quiet else (lambda s: None))


# --- explain -------------------------------------------------------------------------------------

def read_error_text(text: str | None, file: str | None, stdin) -> str:
    """The text to explain: the argument, --file F, --file - (stdin), or stdin when it is not a terminal."""
    from pathlib import Path

    if file == "-" or (text is None and file is None and stdin is not None and not stdin.isatty()):
        text = stdin.read()
    elif file:
        try:
            text = Path(file).read_text(errors="replace")
        except OSError as e:
            raise BadInput(f"cannot read {file}: {e.strerror}", "give the path of a log file, or - for standard input") from None
    if not text or not text.strip():
        raise BadInput("nothing to explain", "give the error text, --file LOG, or pipe it in: cmd 2>&1 | mambaenv explain")
    return text


def explain_cmd(text, file, python, env, stdin):
    from mambaenv.explain import diagnose

    body = read_error_text(text, file, stdin)
    facts = None
    if python or env:
        from mambaenv.detect.host import detect_nvidia, detect_toolkit
        from mambaenv.detect.pyenv import choose_python, probe_python
        from mambaenv.explain.context import context_from_probe

        facts = context_from_probe(probe_python(choose_python(python, env)), detect_nvidia(), detect_toolkit())
    return diagnose(body, facts)
