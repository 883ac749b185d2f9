"""Local-architecture source builds: the sdist compiled for this GPU only, named like upstream wheels.

Upstream's setup.py appends ``-gencode`` flags for every architecture it supports, ignoring
TORCH_CUDA_ARCH_LIST; compiling only the local one is most of the saving. The rewrite keeps the file's
structure: each hard-coded pair becomes ``pass`` and our flags are set where ``cc_flag`` is created.
The heavy CUDA files are then cut into pieces that compile in parallel (build_split.py), and every built
wheel is kept in the cache under its key (build_cache.py), so the same build never runs twice.

Upstream's setup.py also pins ``-std=c++17``, and torch's cpp_extension adds its own standard only when none is
given, so on a torch whose headers need C++20 the pin is replaced (``cxx_standard_for``). A build is done only
when the wheel holds the package's compiled extension: a setup.py that skips it still "succeeds".
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from packaging.version import Version

from mambaenv.build_cache import store_build
from mambaenv.build_split import apply_split
from mambaenv.errors import BuildError, MambaenvError
from mambaenv.explain import explain
from mambaenv.packages import get as package_record
from mambaenv.wheel import inspect_wheel
from mambaenv.wheelname import upstream_local

GENCODE_LINE = re.compile(r"""^(?P<indent>[ \t]*)cc_flag\.append\(\s*["'](?:-gencode|arch=compute_\w+,code=\w+)["']\s*\)\s*$""")
CC_FLAG_INIT = re.compile(r"^(?P<indent>[ \t]*)cc_flag\s*=\s*\[\s*\]\s*$")
NVCC_GIB_PER_JOB = 3.0  # nvcc on these kernels peaks near 2-3 GiB per job
STD_FLAG = re.compile(r"""(?P<q>["'])-std=c\+\+\d+(?P=q)""")

# The C++ standard torch's own headers require, from the first torch that requires it (newest first). torch 2.14
# made ATen refuse anything older ("#error C++20 or later compatible compiler is required to use ATen":
# pytorch/pytorch#178150; torch 2.13.0's ATen.h still asks for C++17, 2.15.0's for C++20). Older torch keeps
# upstream's own -std=c++17.
TORCH_CXX_STANDARD = ((Version("2.14"), "c++20"),)




def gencode_flags(archs: list[str]) -> list[str]:
    """["9.0", "8.6", "9.0a"] -> ["-gencode", "arch=compute_90,code=sm_90", ...]."""
    flags = []
    for a in archs:
        m = re.fullmatch(r"(\d+)\.(\d+)([af]?)", a.strip())
        if not m:
            raise BuildError(f"malformed architecture {a!r}", "use compute capabilities like 9.0 or 8.6, or native")
        code = f"{m.group(1)}{m.group(2)}{m.group(3)}"
        flags += ["-gencode", f"arch=compute_{code},code=sm_{code}"]
    return flags


def rewrite_arch_flags(setup_py: str, archs: list[str]) -> tuple[str, int]:
    """Replace upstream's hard-coded -gencode pairs with ours; returns (new text, lines replaced)."""
    lines = setup_py.splitlines(keepends=True)
    inits = [i for i, ln in enumerate(lines) if CC_FLAG_INIT.match(ln)]
    hits = [i for i, ln in enumerate(lines) if GENCODE_LINE.match(ln)]
    if len(inits) != 1 or not hits:
        raise BuildError("cannot apply the architecture rewrite to this setup.py "
                         f"(found {len(inits)} 'cc_flag = []' and {len(hits)} -gencode lines)",
                         "build with --arch upstream (all architectures), or report the upstream version to mambaenv")
    for i in hits:
        indent = GENCODE_LINE.match(lines[i]).group("indent")
        lines[i] = f"{indent}pass  # mambaenv: architecture set once, above\n"
    indent = CC_FLAG_INIT.match(lines[inits[0]]).group("indent")
    lines[inits[0]] = f"{indent}cc_flag = {gencode_flags(archs)!r}  # mambaenv: local architecture only\n"
    return "".join(lines), len(hits)


def cxx_standard_for(torch_version: str | None) -> str | None:
    """``2.15.0+cu130`` -> ``c++20``; None where upstream's pinned standard is what torch accepts (or torch is unknown)."""
    if not torch_version:
        return None
    release = Version(Version(torch_version).base_version)
    return next((std for first, std in TORCH_CXX_STANDARD if release >= first), None)


def rewrite_cxx_standard(setup_py: str, standard: str) -> tuple[str, int]:
    """Every ``"-std=c++NN"`` literal (cxx and nvcc, CUDA and HIP) becomes ``standard``; returns (text, replaced).

    A setup.py that passes no -std (causal_conv1d's CUDA flags) is left as it is: torch then adds its own."""
    return STD_FLAG.subn(lambda m: f"{m.group('q')}-std={standard}{m.group('q')}", setup_py)


def max_jobs(parallel_builds: int = 1) -> int:
    cores = os.cpu_count() or 1
    try:
        avail_kib = int(re.search(r"MemAvailable:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        by_mem = int(avail_kib / 1024 / 1024 / NVCC_GIB_PER_JOB)
    except (OSError, AttributeError):
        by_mem = cores
    # Builds running side by side each get up to every core (the OS shares them, so one that finishes early
    # leaves its cores to the other); memory is what must be divided.
    return max(1, min(cores, by_mem // max(1, parallel_builds)))


def extract_sdist(sdist: Path, dest: Path) -> Path:
    """Every member checked first (a relative path inside ``dest``, a plain file or folder), then extracted with the
    standard library's data filter where it has one."""
    with tarfile.open(sdist) as tf:
        members = tf.getmembers()
        for m in members:
            if m.name.startswith(("/", "..")) or ".." in Path(m.name).parts or not (m.isfile() or m.isdir()):
                raise BuildError(f"{sdist.name} has an unsafe member {m.name!r}", "use an sdist from the package index")
        for m in members:
            if hasattr(tarfile, "data_filter"):
                tf.extract(m, dest, filter="data")
            elif m.isdir():  # Python without tar filters: the checked folders and files, written by hand
                (dest / m.name).mkdir(parents=True, exist_ok=True)
            else:
                (dest / m.name).parent.mkdir(parents=True, exist_ok=True)
                with tf.extractfile(m) as src, open(dest / m.name, "xb") as out:
                    shutil.copyfileobj(src, out)
    roots = [p for p in dest.iterdir() if p.is_dir()]
    if len(roots) != 1 or not (roots[0] / "setup.py").exists():
        raise BuildError(f"{sdist.name} does not look like an sdist with a setup.py", "give the .tar.gz from the package index")
    return roots[0]


def fetch_sdist(package: str, version: str | None, dest: Path, python: str, index_url: str | None = None) -> Path:
    """The sdist through the target env's own pip, so its index, mirrors, proxy and certificates apply.

    pip reads the sdist's metadata by running setup.py, which imports torch: the target env has it.
    """
    prefix = package_record(package).build_env_prefix
    env = dict(os.environ, **{f"{prefix}_FORCE_BUILD": "TRUE", f"{prefix}_SKIP_CUDA_BUILD": "TRUE"})
    spec = f"{package}=={version}" if version else package
    cmd = [python, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "--no-build-isolation", "-d", str(dest), spec]
    if index_url:
        cmd += ["--index-url", index_url]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    found = sorted(dest.glob(f"{package}-*.tar.gz"))
    if proc.returncode != 0 or not found:
        last = ([ln for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()] or ["no output"])[-1]
        raise BuildError(f"cannot fetch the {package} sdist: {last[:200]}",
                         "give it with --sdist FILE (download it on a connected machine: pip download --no-deps --no-binary :all:)")
    return found[-1]


@dataclass
class BuildPlan:
    package: str
    sdist: Path
    archs: list[str] | None  # None: upstream's full list
    jobs: int
    python: str
    local_tag: str  # cu13torch2.11cxx11abiTRUE
    out_dir: Path
    split: bool = True  # cut heavy translation units into parallel pieces (build_split.py)
    key: object = None  # build_cache.BuildKey: the built wheel is stored under it
    cache_dir: Path | None = None
    torch: str | None = None  # "2.15.0+cu130"; None: the key's

    @property
    def torch_version(self) -> str | None:
        return self.torch or getattr(self.key, "torch", None)


def local_tag_for(torch_cuda: str, torch_version: str, cxx11_abi: bool) -> str:
    """A build is named like upstream's wheels, so every check that reads a wheel's name reads it."""
    return str(upstream_local(torch_cuda.split(".")[0], torch_version, cxx11_abi))


def check_toolchain(nvcc_version: str | None, torch_cuda: str | None) -> None:
    if torch_cuda is None:
        raise BuildError("this env's torch is CPU-only: there is nothing to build the kernels against", "install a CUDA build of torch first")
    if not nvcc_version:
        raise BuildError("no nvcc: a source build needs the CUDA toolkit", f"install CUDA toolkit {torch_cuda.split('.')[0]}.x and set CUDA_HOME")
    if nvcc_version.split(".")[0] != torch_cuda.split(".")[0]:
        raise BuildError(f"nvcc {nvcc_version} and torch's CUDA {torch_cuda} differ in major version; the build would fail",
                         f"install CUDA toolkit {torch_cuda.split('.')[0]}.x and point CUDA_HOME at it")


def prepare_source(plan: BuildPlan, workdir: Path, on_line=None, notes: dict | None = None) -> Path:
    """The sdist extracted and rewritten for this build: C++ standard, architectures, split. Returns its root."""
    notes = {} if notes is None else notes
    src = extract_sdist(plan.sdist, workdir)
    setup = src / "setup.py"
    standard = cxx_standard_for(plan.torch_version)
    if standard:
        text, replaced = rewrite_cxx_standard(setup.read_text(), standard)
        setup.write_text(text)
        notes["cxx_standard"] = f"{standard} (torch {plan.torch_version} requires it; {replaced} -std flags of setup.py replaced)"
    if plan.archs is not None:
        text, _ = rewrite_arch_flags(setup.read_text(), plan.archs)
        setup.write_text(text)
    if plan.split:
        report = apply_split(src, plan.jobs)
        notes["split"] = report.to_dict()
        notes["split_summary"] = report.summary()
        if on_line:
            on_line(plan.package, "split: " + report.summary())
    else:
        notes["split_summary"] = "not split (--no-split)"
    return src


def build_env(plan: BuildPlan, base: dict) -> dict:
    """setup.py's switches for a real kernel build: compile (FORCE_BUILD, no SKIP_CUDA_BUILD) and keep the CUDA
    extension (upstream main builds selective_scan_cuda only with MAMBA_KEEP_CUDA_BUILD=TRUE, state-spaces/mamba#977)."""
    prefix = package_record(plan.package).build_env_prefix
    env = dict(base, MAX_JOBS=str(plan.jobs), **{f"{prefix}_FORCE_BUILD": "TRUE", f"{prefix}_KEEP_CUDA_BUILD": "TRUE"})
    env.pop(f"{prefix}_SKIP_CUDA_BUILD", None)
    if plan.archs is not None:
        env["TORCH_CUDA_ARCH_LIST"] = ";".join(plan.archs)
    return env


def pip_wheel(plan: BuildPlan, src: Path, dist: Path, log_path: Path, on_line=None) -> Path:
    """``pip wheel --no-build-isolation`` in the target env, every line to the log; returns the built wheel."""
    cmd = [plan.python, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-v", "-w", str(dist), str(src)]
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=build_env(plan, os.environ), cwd=str(src))
        for line in proc.stdout:
            log.write(line)
            if on_line:
                on_line(plan.package, line.rstrip())
        proc.wait()
    if proc.returncode != 0:
        tail = log_path.read_text()[-20000:]
        d = explain(tail)
        raise BuildError(f"building {plan.package} failed" + (f": {d.summary}" if d else ""),
                         (d.fix + f"; log: {log_path}") if d else f"see the log: {log_path}")
    return next(dist.glob("*.whl"))


def check_has_extension(wheel: Path, package: str, log_path: Path) -> None:
    """A wheel without the package's compiled extension is a pure-Python build: it installs, then fails at import."""
    module = package_record(package).extensions[0]
    info = inspect_wheel(wheel, read_elf=False, check_crc=False)
    if not any(Path(e).name.split(".", 1)[0] == module for e in info.extensions):
        raise BuildError(f"the {package} build finished without its CUDA extension {module} (the wheel has "
                         f"{len(info.extensions)} compiled libraries); its setup.py skipped the kernels",
                         f"see the log ({log_path}) for why setup.py skipped them, and report the sdist version to mambaenv")


def run_build(plan: BuildPlan, workdir: Path, log_path: Path, on_line=None, notes: dict | None = None) -> Path:
    """Extract, rewrite, ``pip wheel --no-build-isolation``, check; returns the renamed wheel. `notes` receives
    what the rewrites did ("split": report dict, "split_summary": one line, "cxx_standard": one line)."""
    notes = {} if notes is None else notes
    src = prepare_source(plan, workdir, on_line, notes)
    built = pip_wheel(plan, src, workdir / "dist", log_path, on_line)
    check_has_extension(built, plan.package, log_path)
    if plan.split:
        check_no_undefined_launches(built, notes.get("split"))
    name = re.sub(r"^([^-]+)-([^-]+)-", lambda m: f"{m.group(1)}-{m.group(2).split('+')[0]}+{plan.local_tag}-", built.name, count=1)
    plan.out_dir.mkdir(parents=True, exist_ok=True)
    target = plan.out_dir / name
    shutil.move(str(built), target)
    return target


def build_many(plans: list[BuildPlan], workroot: Path, status=None) -> list[dict]:
    """Build several packages in parallel threads (each its own pip process); a live line per package."""
    results: dict[str, dict] = {}
    last: dict[str, str] = {}
    t0 = time.monotonic()

    def on_line(pkg, line):
        if line.strip():
            last[pkg] = line.strip()[:80]

    def work(plan):
        start = time.monotonic()
        wd = workroot / plan.package
        wd.mkdir(parents=True, exist_ok=True)
        log = workroot / f"{plan.package}.log"
        notes: dict = {}
        try:
            wheel = run_build(plan, wd, log, on_line, notes)
            seconds = round(time.monotonic() - start, 1)
            results[plan.package] = {"package": plan.package, "wheel": str(wheel), "seconds": seconds, "cached": False, "cached_at": None,
                                     "size": wheel.stat().st_size, "archs": plan.archs or "upstream", "jobs": plan.jobs, "log": str(log),
                                     "split": notes.get("split_summary"), "cxx_standard": notes.get("cxx_standard")}
            if plan.key is not None and plan.cache_dir is not None:
                try:
                    stored = store_build(wheel, plan.key, plan.cache_dir, {"seconds": seconds, "split": notes.get("split")})
                    results[plan.package]["cached_at"] = str(stored)
                except OSError as e:  # the wheel is built and kept where asked; only the reuse is lost
                    results[plan.package]["cache_error"] = f"not kept in the cache: {e.strerror or e}"
        except MambaenvError as e:
            results[plan.package] = {"package": plan.package, "error": e.one_line(), "seconds": round(time.monotonic() - start, 1), "log": str(log)}

    threads = [threading.Thread(target=work, args=(p,), daemon=True) for p in plans]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        if status:
            status(f"building ({time.monotonic() - t0:.0f} s) " + " | ".join(f"{k}: {v}" for k, v in last.items()))
        time.sleep(1)
    return [results[p.package] for p in plans]


def check_no_undefined_launches(wheel: Path, split: dict | None) -> None:
    """After a launch split, no launch may be left undefined in the extension (it would fail only at import)."""
    if not split or not any(d.get("technique") == "launches" for d in split.get("split", [])):
        return

    nm = shutil.which("nm")
    if not nm:
        return
    with zipfile.ZipFile(wheel) as zf, tempfile.TemporaryDirectory() as tmp:
        for name in zf.namelist():
            if name.endswith(".so") and "/" not in name.strip("/"):
                path = Path(tmp) / Path(name).name
                path.write_bytes(zf.read(name))
                out = subprocess.run([nm, "-D", "-C", "--undefined-only", str(path)], capture_output=True, text=True).stdout
                missing = [ln.split(None, 1)[-1] for ln in out.splitlines() if "_launch<" in ln]
                if missing:
                    raise BuildError(f"the split left {len(missing)} launch(es) undefined in {name}, e.g. {missing[0][:120]}",
                                     "build again with --no-split and report this to mambaenv")
