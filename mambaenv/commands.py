"""Command bodies: gather facts, call the pure parts, return data for the CLI to render."""
from __future__ import annotations

from mambaenv.catalog import catalog_sha256, load_catalog, repo_of, wheels_of
from mambaenv.config import cache_dir
from mambaenv.errors import BadInput
from mambaenv.resolve import resolve_all
from mambaenv.target import explicit_target, parse_bool, target_from_args  # noqa: F401 (re-exported for callers)
from mambaenv.upstream import PACKAGES


def doctor(python: str | None, env: str | None, deep: bool = False, offline: bool = False, with_docker: bool = True,
           wheelhouses: list[str] | None = None) -> dict:
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
    import dataclasses

    # the wheels must run on the GPUs here: resolve checks each wheel's archs against them
    caps = tuple(sorted({g.compute_capability for g in host.nvidia.gpus if g.compute_capability}))
    target = dataclasses.replace(pyenv.target(), gpu_caps=caps)
    choices = from_wheelhouses(resolve_all(catalog, target), target, wheelhouses, gpu_caps=list(caps) or None)
    installed, installed_error = installed_packages(exe, pyenv)
    from mambaenv.build_cache import cached_wheels_for_target

    local_builds = cached_wheels_for_target(target, cache_dir())
    checks = doctor_checks(host, pyenv, choices, installed, installed_error, last_smoke(exe), local_builds)
    if not offline:
        from mambaenv.facts import Check

        for f in catalog_freshness(catalog, list(PACKAGES)):
            if f.message:
                checks.append(Check(f"catalog:{f.package}", "warn", f.message, "mambaenv catalog refresh"))
            elif f.error:
                checks.append(Check(f"catalog:{f.package}", "skip", f"{f.error} at {f.index}"))
            else:
                checks.append(Check(f"catalog:{f.package}", "pass", f"the catalog knows every {f.package} version {f.index} lists"))
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


def gpu_caps_from(text: str | None) -> tuple[str, ...]:
    """``--gpu-arch``: ``native`` (the GPUs here), or a list like ``12.0,8.6`` / ``sm_120``; empty: unchecked."""
    if not text:
        return ()
    if text == "native":
        from mambaenv.detect.host import detect_nvidia

        return tuple(sorted({g.compute_capability for g in detect_nvidia().gpus if g.compute_capability}))
    from mambaenv.compat import sm

    caps = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        try:
            n = sm(part)
        except ValueError:
            raise BadInput(f"malformed GPU architecture {part!r}", "give compute capabilities like 12.0,8.6 or sm_120, or native") from None
        caps.append(f"{n // 10}.{n % 10}")
    return tuple(caps)


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


def resolve(package, package_version, python, env, torch, torch_cuda, cxx11abi, machine, ngc, offline, wheelhouses=None, gpu_arch=None,
            freshness: list | None = None):
    """``freshness``: a list to fill (online only) with what the package index knows and the catalog not."""
    import dataclasses

    if package != "all" and package not in PACKAGES:
        raise BadInput(f"unknown package {package!r}", f"use one of {', '.join(PACKAGES)} or all")
    target = target_from_args(python, env, torch, torch_cuda, cxx11abi, machine, ngc)
    caps = gpu_caps_from(gpu_arch)
    if caps:
        target = dataclasses.replace(target, gpu_caps=caps)
    catalog = load_catalog(None if offline else cache_dir(), offline=offline)
    choices = resolve_all(catalog, target, package, package_version)
    if freshness is not None and not offline:
        freshness += catalog_freshness(catalog, [c.package for c in choices])
        if package_version is None:
            choices = [probe_newer(c, catalog, target, freshness) for c in choices]
    # a probed env is on this machine: its GPUs are the ones a wheelhouse wheel's kernels must run on
    here = list(caps) if caps else (True if torch is None else None)
    return from_wheelhouses(choices, target, wheelhouses, package_version, here)


SOURCE_KEYS = ("package", "file", "source", "wheelhouse", "wheelhouse_skipped", "wheelhouse_errors")  # "where it came from" in answers


def from_wheelhouses(choices, target, wheelhouses=None, package_version=None, gpu_caps=None):
    """Wheelhouses (flags, MAMBAENV_WHEELHOUSE, config) first: a fitting wheel there replaces the catalog's answer.

    ``gpu_caps``: compute capabilities the wheel's kernels must run on; True: this machine's GPUs; None: not checked.
    """
    from mambaenv.config import wheelhouses as configured_wheelhouses
    from mambaenv.wheelhouse import prefer_wheelhouses

    houses = configured_wheelhouses(wheelhouses)
    if gpu_caps is True:
        from mambaenv.detect.host import detect_nvidia

        gpu_caps = ([g.compute_capability for g in detect_nvidia().gpus if g.compute_capability] or None) if houses else None
    return prefer_wheelhouses(choices, target, houses, package_version, gpu_caps)


def catalog_freshness(catalog, packages: list[str]) -> list:
    """One index lookup per package, in parallel: which released versions the catalog does not know."""
    from concurrent.futures import ThreadPoolExecutor

    from mambaenv.catalog.index import check_freshness

    with ThreadPoolExecutor(max_workers=len(packages) or 1) as pool:
        return list(pool.map(lambda p: check_freshness(catalog, p), packages))


def probe_newer(choice, catalog, target, freshness: list):
    """Offer a version the index has and the catalog lacks, when the file setup.py would ask for exists."""
    from packaging.version import Version

    from mambaenv import compat
    from mambaenv.catalog.index import guessed_wheel, probe
    from mambaenv.config import mirrors as configured_mirrors
    from mambaenv.resolve import Choice, unsupported_platform

    fresh = next((f for f in freshness if f.package == choice.package and f.newer), None)
    if fresh is None or unsupported_platform(target):
        return choice
    for version in reversed(fresh.newer):
        if choice.wheel and Version(choice.wheel.version) >= Version(version):
            break
        guess = guessed_wheel(catalog, choice.package, version, target)
        if not compat.evaluate(compat.WheelFacts.of_asset(guess), target).fits:
            continue
        if probe(guess.url, configured_mirrors(None)):
            reason = (f"{guess.tag} is newer than the catalog; its file {guess.filename} exists (found by a HEAD request, "
                      "no sha256 known); run mambaenv catalog refresh to list it")
            return Choice(choice.package, guess, reason, None, [], ("gpu-arch",) if target.gpu_caps else ())
    return choice


def catalog_refresh(api: str | None) -> dict:
    from mambaenv.catalog.github import refresh

    return refresh(cache_dir(), {p: repo_of(p) for p in PACKAGES}, api)


def catalog_list(package: str, offline: bool) -> list[dict]:
    if package != "all" and package not in PACKAGES:
        raise BadInput(f"unknown package {package!r}", f"use one of {', '.join(PACKAGES)} or all")
    catalog = load_catalog(None if offline else cache_dir(), offline=offline)
    return [{"package": r.package, "repo": r.repo, "tag": r.tag, "package_version": r.package_version, "era": r.era, "date": r.date,
             "wheels": len(wheels_of(r)), "no_wheels_reason": r.no_wheels_reason, "source": r.source, "shadowed_by": r.shadowed_by}
            for name in (PACKAGES if package == "all" else (package,)) for r in catalog.for_package(name)]


def catalog_wheels(package: str, tag: str | None, offline: bool) -> list[dict]:
    """Every wheel the catalog names for a package (one tag, or all), with what is known about it."""
    if package not in PACKAGES:
        raise BadInput(f"unknown package {package!r}", f"use one of {', '.join(PACKAGES)}")
    catalog = load_catalog(None if offline else cache_dir(), offline=offline)
    releases = catalog.for_package(package)
    if tag is not None:
        found = [r for r in releases if r.tag == tag or r.tag == "v" + tag]
        if not found:
            raise BadInput(f"unknown {package} tag {tag!r}", f"known tags include {', '.join(r.tag for r in releases[:6])}")
        releases = found
    return [{"package": w.package, "tag": w.tag, "version": w.version, "file": w.filename, "url": w.url, "size": w.size,
             "sha256": w.sha256, "source": w.source, "cuda_toolkit": w.cuda_toolkit,
             "archs": list(w.archs) if w.archs is not None else None}
            for r in releases for w in wheels_of(r)]


# --- download / bundle / install -----------------------------------------------------------------

def downloader(segments: int | None = None):
    """The body lives in mambaenv.download; kept here for callers of commands.downloader until the orchestrator move."""
    from mambaenv.download import downloader as make  # start-up: requests loads only when something downloads

    return make(segments)


def fetch_to(url: str, dest, sha256: str | None, size: int | None, mirrors, segments: int | None, show_progress: bool,
             local_wheelhouse: bool = True):
    """The body lives in mambaenv.download; kept here for callers of commands.fetch_to until the orchestrator move."""
    from mambaenv.download import fetch_to as fetch  # start-up: requests loads only when something downloads

    return fetch(url, dest, sha256, size, mirrors, segments, show_progress, local_wheelhouse)


def resolved_wheels(package: str, python, env, offline: bool, torch=None, torch_cuda=None, cxx11abi=None, machine="x86_64", ngc=None,
                    wheelhouses=None):
    # a probed env's wheels go onto this machine: check them against its GPUs (none found: unchecked)
    choices = resolve(package, None, python, env, torch, torch_cuda, cxx11abi, machine, ngc, offline, wheelhouses,
                      gpu_arch="native" if torch is None else None)
    missing = [c for c in choices if not c.wheel]
    if missing:
        c = missing[0]
        from mambaenv.errors import ExitCode, MambaenvError

        alt = c.alternatives[0] if c.alternatives else None
        raise MambaenvError(f"no prebuilt {c.package} wheel fits: {c.reason}", (alt.command or alt.summary) if alt else None,
                            exit_code=ExitCode.NO_WORKING_PATH)
    return choices


def download_cmd(package, url, dest, sha256, mirrors, segments, python, env, torch, torch_cuda, cxx11abi, machine, ngc,
                 offline_catalog, show_progress=True, wheelhouses=None) -> list[dict]:
    """--url as given, or the wheels resolved for the target (wheelhouses first, then the catalog), each placed in ``dest``."""
    if url:
        jobs = [(url, sha256 or catalog_sha256(url), None, None)]
    else:
        choices = resolved_wheels(package, python, env, offline_catalog, torch, torch_cuda, cxx11abi, machine, ngc, wheelhouses)
        jobs = [(c.wheel.url, c.wheel.sha256, c.wheel.size, getattr(c, "wheelhouse", None)) for c in choices]
    results = []
    for u, sha, size, house in jobs:
        got, placed = fetch_to(u, dest, sha, size, mirrors, segments, show_progress, local_wheelhouse=not url)
        results.append({"url": u, "file": str(placed), "sha256": got.sha256, "size": got.size, "from_cache": got.from_cache,
                        "served_by": got.url, "source": "wheelhouse" if house else ("url" if url else "catalog"), "wheelhouse": house})
    return results


def bundle_cmd(output, python, env, torch, torch_cuda, cxx11abi, machine, ngc, from_doctor, wheels, mirrors, index_url, find_links,
               offline_catalog, show_progress=True, wheelhouses=None) -> dict:
    """bundle for explicit facts, a doctor --json file, or (``--python PATH`` / ``--env``) an env probed here;
    wheelhouses are asked first: their fitting wheels (the catalog's for the rest) go in as local wheels."""
    import tempfile
    from pathlib import Path

    from mambaenv import bundle as bundle_mod
    from mambaenv.config import wheelhouses as configured_wheelhouses
    from mambaenv.facts import is_python_version
    from mambaenv.fetch import DownloadError

    if not from_doctor and torch is None and (env or (python and not is_python_version(python))):
        t = target_from_args(python, env, None, None, None, machine, None)
        python, torch, machine, ngc = t.python, t.torch, t.machine, t.ngc_version
        torch_cuda, cxx11abi = t.torch_cuda or "none", None if t.cxx11_abi is None else str(t.cxx11_abi)
    try:
        with tempfile.TemporaryDirectory(prefix="mambaenv-bwh-") as tmp:
            sources = []
            if not wheels and configured_wheelhouses(wheelhouses):
                target = bundle_mod._target(python, torch, torch_cuda, cxx11abi, machine, ngc, from_doctor)
                catalog = load_catalog(None if offline_catalog else cache_dir(), offline=offline_catalog)
                choices = from_wheelhouses(resolve_all(catalog, target), target, wheelhouses)
                if any(c.wheelhouse for c in choices) and all(c.wheel for c in choices):
                    wheels = [str(fetch_to(c.wheel.url, Path(tmp), c.wheel.sha256, c.wheel.size, mirrors, None, show_progress)[1])
                              for c in choices]
                sources = [{k: c.to_dict().get(k) for k in SOURCE_KEYS} for c in choices]
            result = bundle_mod.make_bundle(output, python, torch, torch_cuda, cxx11abi, machine, ngc, from_doctor, wheels, mirrors,
                                            index_url, find_links, offline_catalog, show_progress=show_progress)
            return dict(result, sources=sources)
    except DownloadError as e:
        # The downloader's own advice ends in install --offline-wheel, which is the server's step, not this one.
        e.fix = "check the network or proxy (HTTPS_PROXY), add a mirror with --mirror, or fetch the URL in a browser and give it with --wheel FILE"
        raise


def install_cmd(offline_wheel, new_env, env, python, python_version, torch, torch_index, find_links, index_url,
                venv_only, force, mirror, quiet, no_deps=False, no_index=False, torch_cuda=None, conda_forge=False, wheelhouses=None):
    import tempfile
    from pathlib import Path

    from mambaenv.detect.host import detect_glibc
    from mambaenv.detect.pyenv import choose_python
    from mambaenv.errors import MambaenvError
    from mambaenv.install import install, open_offline_source

    if new_env and env:
        raise MambaenvError("--new-env cannot go with --env", "pick one target: a new env, or an existing one")
    links = [Path(p) for p in find_links]
    spec = None
    if new_env:
        spec = new_env_spec(new_env, python or python_version, torch, torch_index, torch_cuda, venv_only, conda_forge)
        python = None
    status_cb, ctx = _status(quiet)
    sources: list[dict] = []  # where each resolved wheel came from (wheelhouse or catalog), for the answer
    with ctx, tempfile.TemporaryDirectory(prefix="mambaenv-src-") as tmp:
        if offline_wheel:
            wheels, extra = open_offline_source(Path(offline_wheel), Path(tmp))
            links += extra
            offline = True
            resolver = None
        else:
            def resolver(py):
                """For the env as it is now (a new env has its torch by then): a local build made for it (mambaenv
                build, kept in the cache) first, else resolve and download."""
                from mambaenv.build_cache import cached_wheels_for_target
                from mambaenv.detect.pyenv import probe_python

                local = cached_wheels_for_target(probe_python(py).target(), cache_dir())
                found = []
                for package in PACKAGES:
                    if local.get(package):
                        sources.append({"package": package, "file": local[package].name, "source": "local-build", "wheelhouse": None})
                        found.append(local[package])
                        continue
                    choices = resolved_wheels(package, py, None, False, wheelhouses=wheelhouses)
                    sources.extend(c.to_dict() for c in choices)
                    found += [fetch_to(c.wheel.url, Path(tmp), c.wheel.sha256, c.wheel.size, mirror, None, not quiet)[1] for c in choices]
                return found

            wheels, offline = [], no_index
        target = None if spec else choose_python(python, env)
        result = install(wheels, python=target, new_env=spec, find_links=links, offline=offline, index_url=index_url,
                         force=force, host_glibc=detect_glibc(), status=status_cb, no_deps=no_deps, resolve_wheels=resolver)
        result.sources = [{k: s.get(k) for k in SOURCE_KEYS} for s in sources]
        return result


def new_env_spec(target, python, torch, torch_index, torch_cuda, venv_only, conda_forge):
    """--new-env's facts: ``--python`` is the new env's version (or, for a venv, the interpreter to base it on);
    torch's CUDA comes from --torch-cuda or the torch index URL (``.../cu128``), and picks that index for pip."""
    from mambaenv.envs import conda
    from mambaenv.facts import check_cuda_version, is_python_version
    from mambaenv.install import NewEnv
    from mambaenv.upstream import cuda_of_torch_index, torch_index_for

    version, base = (python, None) if is_python_version(python) else (None, python)
    if base and not venv_only and conda.find_frontend():
        raise BadInput(f"a conda env takes a Python version, not the interpreter {base}", "give --python 3.11, or add --venv to base a venv on it")
    cuda = None
    if torch_cuda is not None:
        cuda = check_cuda_version(torch_cuda) or "none"
    elif torch_index:
        said = cuda_of_torch_index(torch_index)
        cuda = None if said is False else (said or "none")
    if torch and cuda and not torch_index:
        torch_index = torch_index_for(None if cuda == "none" else cuda)
    return NewEnv(target, version, torch, torch_index, base_python=base, use_conda=False if venv_only else None,
                  torch_cuda=cuda, conda_forge=conda_forge)


def _status(quiet: bool):
    """A status line (plain lines without a terminal), or nothing for --json."""
    import contextlib

    if quiet:
        return None, contextlib.nullcontext()
    from mambaenv.render import StatusLine

    line = StatusLine()
    return line, line


def smoke(python, env, bench: bool, quiet: bool, full_autotune: bool = False):
    from mambaenv.detect.pyenv import choose_python
    from mambaenv.smoke import record_smoke_result, run_smoke

    exe = choose_python(python, env)
    cb, ctx = _status(quiet)
    with ctx:
        if cb:
            cb(f"running the Mamba kernels in {exe} (imports take ~10 s, a first Triton compile longer)")
        code, result = run_smoke(exe, bench, full_autotune=full_autotune)
    try:
        record_smoke_result(result, cache_dir(), exe)
    except OSError:
        pass  # the result is still printed; only doctor's "last smoke result" misses it
    return code, result


def native_archs() -> list[str]:
    from mambaenv.detect.host import detect_nvidia
    from mambaenv.errors import MambaenvError

    caps = sorted({g.compute_capability for g in detect_nvidia().gpus if g.compute_capability})
    if not caps:
        raise MambaenvError("no GPU found to take the architecture from", "give it with --arch, e.g. --arch 9.0")
    return caps


def build_cmd(package, sdists, arch, jobs, python, env, version, index_url, dest, quiet, split=True):
    import shutil
    import tempfile
    from pathlib import Path

    from mambaenv.build import BuildPlan, build_many, check_toolchain, fetch_sdist, local_tag_for, max_jobs
    from mambaenv.build_cache import find_cached_build, key_for_target
    from mambaenv.detect.host import detect_toolkit
    from mambaenv.detect.pyenv import choose_python, probe_python
    from mambaenv.digest import sha256_file
    from mambaenv.errors import MambaenvError

    names = list(PACKAGES) if package == "all" else [package]
    if any(n not in PACKAGES for n in names):
        raise BadInput(f"unknown package {package!r}", f"use one of {', '.join(PACKAGES)} or all")
    exe = choose_python(python, env)
    target = probe_python(exe).target()
    if target.torch_cuda is None:
        check_toolchain(detect_toolkit().version, target.torch_cuda)
    archs = None if arch == "upstream" else (native_archs() if arch == "native" else [a for a in arch.split(",") if a])
    out_dir = Path(dest) if dest else None
    local = local_tag_for(target.torch_cuda, target.torch, bool(target.cxx11_abi))
    per_job = jobs or max_jobs(len(names))
    workroot = Path(tempfile.mkdtemp(prefix="mambaenv-build-"))
    plans, hits = [], []
    for n in names:
        given = [Path(s) for s in sdists if Path(s).name.startswith(n)]
        if sdists and not given:
            raise MambaenvError(f"no sdist for {n} among --sdist", f"add --sdist {n}-VERSION.tar.gz or --package")
        src = given[0] if given else fetch_sdist(n, version, workroot, exe, index_url)
        key = key_for_target(n, target, sha256_file(src), archs)
        cached = find_cached_build(key, cache_dir())
        if cached:
            wheel = cached
            if out_dir:
                out_dir.mkdir(parents=True, exist_ok=True)
                wheel = out_dir / cached.name
                if wheel.resolve() != cached.resolve():
                    shutil.copy2(cached, wheel)
            hits.append({"package": n, "wheel": str(wheel), "seconds": 0.0, "cached": True, "cached_at": str(cached),
                         "size": cached.stat().st_size, "archs": archs or "upstream", "jobs": 0, "log": None,
                         "split": None})
            continue
        plans.append(BuildPlan(n, src, archs, per_job, exe, local, out_dir or workroot / "wheels", split, key, cache_dir()))
    results = []
    if plans:
        check_toolchain(detect_toolkit().version, target.torch_cuda)
        cb, ctx = _status(quiet)
        with ctx:
            results = build_many(plans, workroot, cb)
        if not out_dir:  # the cache is the destination: report the stored copy, not the temporary one
            for r in results:
                if r.get("cached_at"):
                    r["wheel"] = r["cached_at"]
    by_name = {r["package"]: r for r in hits + results}
    return [by_name[n] for n in names]


# --- docker --------------------------------------------------------------------------------------

def docker_build(base_image, wheels, bundle, tag, requirements, network, python, env, force, quiet, wheelhouses=None):
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
        paths = [_given_wheel(w) for w in wheels]
        if bundle:
            pkgs, dirs = open_offline_source(Path(bundle), Path(tmp))
            paths = pkgs + [p for p in dirs[0].glob("*.whl") if p not in pkgs]
        target, sources = None, []
        if not paths:
            target = d.probe_image(d.client(), base_image)
            paths = _wheels_for_image(target, Path(tmp), quiet, wheelhouses, sources)
            download_dependencies(paths, target, Path(tmp), None, [])
            paths += [p for p in Path(tmp).glob("*.whl") if p not in paths]
        pkgs = [p for p in paths if p.name.split("-", 1)[0] in PACKAGES]
        if not pkgs:
            # an image without the kernels builds fine and fails only at the user's first import
            raise BadInput("no mamba_ssm or causal_conv1d wheel among the wheels for the image: " + (", ".join(p.name for p in paths) or "none"),
                           "add --wheel mamba_ssm-*.whl (and causal_conv1d), or --bundle, or leave both out to resolve them for the base image")
        extra = [p for p in paths if p not in pkgs]
        result = d.build_image(base_image, pkgs, tag, Path(requirements) if requirements else None, extra, force, network, cb, target)
        return dict(result, sources=sources)


def _given_wheel(text: str):
    """A --wheel argument: an existing .whl file, or one line saying what it is instead."""
    from pathlib import Path

    path = Path(text)
    if not path.is_file():
        raise BadInput(f"--wheel {text}: no such file" + (" (it is a folder)" if path.is_dir() else ""), "give the path of a .whl file")
    if path.suffix != ".whl":
        raise BadInput(f"--wheel {text} is not a wheel (.whl)", "give the mamba_ssm / causal_conv1d .whl files, or --bundle FILE")
    return path


def _wheels_for_image(target, dest, quiet, wheelhouses=None, sources=None):
    """Local builds from the cache first (mambaenv build), then wheelhouses, then the resolved upstream wheels."""
    from mambaenv.wheel import inspect_wheel, mismatches

    out = []
    from mambaenv.build_cache import find_cached_build, key_for_target

    for package in PACKAGES:
        local = find_cached_build(key_for_target(package, target), cache_dir())
        if local and not mismatches(inspect_wheel(local, read_elf=False), target):
            out.append(local)
            if sources is not None:
                sources.append({"package": package, "file": local.name, "source": "local-build", "wheelhouse": None})
            continue
        choice = from_wheelhouses(resolve_all(load_catalog(cache_dir()), target, package), target, wheelhouses)[0]
        if not choice.wheel:
            from mambaenv.errors import MambaenvError

            raise MambaenvError(f"no {package} wheel for the image: {choice.reason}", "mambaenv build in a matching env, then --wheel FILE")
        out.append(fetch_to(choice.wheel.url, dest, choice.wheel.sha256, choice.wheel.size, [], None, not quiet)[1])
        if sources is not None:
            d = choice.to_dict()
            sources.append({k: d.get(k) for k in SOURCE_KEYS})
    return out


def docker_run(project, command, image, gpus, read_only, detach, network, shm_size, name, user, quiet):
    import sys
    from pathlib import Path

    from mambaenv import docker as d

    opts = d.run_options(Path(project), image, gpus, read_only, detach, command, network, shm_size, name, user)
    if opts["warnings"]:
        from rich.markup import escape

        from mambaenv.render import err_console

        for w in opts["warnings"]:
            err_console.print(f"[yellow]warning:[/] {escape(w)}", soft_wrap=True)
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
