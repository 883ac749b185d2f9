# Runs INSIDE the target environment, with that env's interpreter: Python 3.7+ and the standard
# library only. It prints one JSON object. It never imports torch unless --deep is given, because
# importing torch costs seconds and can crash on a broken install; file contents tell us enough.
# With --extensions it reports instead, for mamba_ssm and causal_conv1d, what the dist-info says and
# whether the compiled CUDA extension loads: that needs torch's libraries, so torch is imported then
# (in the probed env's own process, never in mambaenv's), and only when one of the packages is installed.
import json
import os
import platform
import re
import sys
import sysconfig

# {package: its CUDA extension module}: this file cannot import mambaenv, so detect/pyenv.probe_source writes the
# line below from mambaenv's package table (packages.py) before the script runs.
EXTENSIONS = {}
PACKAGES = ("torch",) + tuple(EXTENSIONS) + ("triton", "numpy")
RECORD_FILE = "mambaenv-installed.json"


def site_dirs():
    seen = []
    for key in ("purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path and path not in seen:
            seen.append(path)
    for path in sys.path:
        if path and os.path.isdir(path) and path not in seen and ("site-packages" in path or "dist-packages" in path):
            seen.append(path)
    return seen


def normalize(name):
    return re.sub(r"[-_.]+", "_", name).lower()


def pkg_info_version(path):
    """Version: from a PKG-INFO / METADATA file, or None."""
    try:
        with open(path, errors="replace") as f:
            for line in f:
                if line.startswith("Version:"):
                    return line.split(":", 1)[1].strip()
                if not line.strip():
                    break
    except OSError:
        pass
    return None


def metadata_entry(d, entry):
    """(name, version, metadata path, kind) for one site-packages entry that is package metadata, else None.

    A wheel install leaves NAME-VER.dist-info; ``setup.py install``/develop builds and older conda packages
    leave NAME-VER-pyX.Y.egg-info (a folder or a file), NAME.egg-link, or NAME-VER-....egg/EGG-INFO.
    """
    path = os.path.join(d, entry)
    if entry.endswith(".dist-info"):
        name, _, version = entry[: -len(".dist-info")].partition("-")
        return name, version, path, "dist-info"
    if entry.endswith(".egg-info"):
        name, _, rest = entry[: -len(".egg-info")].partition("-")
        info = os.path.join(path, "PKG-INFO") if os.path.isdir(path) else path
        return name, pkg_info_version(info) or rest.split("-py", 1)[0] or None, path, "egg-info"
    if entry.endswith(".egg") and os.path.isdir(path):
        name, _, rest = entry[: -len(".egg")].partition("-")
        return name, pkg_info_version(os.path.join(path, "EGG-INFO", "PKG-INFO")) or rest.split("-py", 1)[0] or None, path, "egg"
    if entry.endswith(".egg-link"):
        try:
            with open(path) as f:
                src = f.readline().strip()
            infos = sorted(e for e in os.listdir(src) if e.endswith(".egg-info"))
        except OSError:
            return None
        name = entry[: -len(".egg-link")]
        for e in infos:
            if normalize(e[: -len(".egg-info")].split("-")[0]) != normalize(name):
                continue
            info = os.path.join(src, e)
            version = pkg_info_version(os.path.join(info, "PKG-INFO") if os.path.isdir(info) else info)
            if version:
                return name, version, info, "egg-link"
    return None


def installed_versions(dirs):
    wanted = {normalize(p): p for p in PACKAGES}
    found = {}
    for d in dirs:
        try:
            entries = sorted(os.listdir(d))
        except OSError:
            continue
        for entry in entries:
            stem = entry.rsplit(".", 1)[0] if entry.endswith((".dist-info", ".egg-info", ".egg", ".egg-link")) else None
            if stem is None or normalize(stem.split("-")[0]) not in wanted or wanted[normalize(stem.split("-")[0])] in found:
                continue  # only the packages we ask about are read
            meta = metadata_entry(d, entry)
            if not meta or not meta[1]:
                continue
            key = normalize(meta[0])
            if key in wanted and wanted[key] not in found:
                found[wanted[key]] = {"version": meta[1], "dist_info": meta[2], "metadata": meta[3]}
    return found


def find_package_dir(dirs, name):
    for d in dirs:
        path = os.path.join(d, name)
        if os.path.isdir(path):
            return d, path
    return None, None


def extension_present(dirs, module):
    for d in dirs:
        try:
            for entry in os.listdir(d):
                if entry.startswith(module + ".") and (entry.endswith(".so") or entry.endswith(".pyd")):
                    return os.path.join(d, entry)
        except OSError:
            continue
    return None


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except (OSError, UnicodeDecodeError):
        return None


def dist_info(dirs, package):
    """What a wheel install's .dist-info says of ``package``: version, tags, where it came from and who installed it."""
    for d in dirs:
        try:
            entries = sorted(os.listdir(d))
        except OSError:
            continue
        for entry in entries:
            if entry.endswith(".dist-info") and normalize(entry[: -len(".dist-info")].partition("-")[0]) == package:
                path = os.path.join(d, entry)
                meta = _read(os.path.join(path, "METADATA")) or ""
                m = re.search(r"^Version: (.+)$", meta, re.M)
                wheel = _read(os.path.join(path, "WHEEL")) or ""
                direct = _read(os.path.join(path, "direct_url.json"))
                return {
                    "version": m.group(1).strip() if m else entry[: -len(".dist-info")].partition("-")[2],
                    "dist_info": path,
                    "wheel_tags": re.findall(r"^Tag: (.+)$", wheel, re.M),
                    "direct_url": json.loads(direct).get("url") if direct else None,
                    "installer": (_read(os.path.join(path, "INSTALLER")) or "").strip() or None,
                }
    return None


def load(module):
    try:
        mod = __import__(module)  # the extensions are top-level modules
    except Exception as e:  # the error text is the fact we want
        return None, "%s: %s" % (type(e).__name__, e)
    return getattr(mod, "__file__", None), None


def extensions_report(dirs):
    """--extensions: each installed package's dist-info, its extension file, and whether that loads beside torch."""
    out = {"packages": {}, "torch": None}
    found = {}
    for package in EXTENSIONS:
        info = dist_info(dirs, package)
        if info:
            found[package] = info
    if found:
        try:
            import torch

            out["torch"] = {"version": torch.__version__, "cuda": torch.version.cuda}
        except Exception as e:
            out["torch"] = {"import_error": "%s: %s" % (type(e).__name__, e)}
    for package, info in found.items():
        module = EXTENSIONS[package]
        info["module"] = module
        info["extension"] = extension_present(dirs, module)
        info["loaded_from"], info["load_error"] = (None, None)
        if info["extension"] and out["torch"] and "import_error" not in out["torch"]:
            info["loaded_from"], info["load_error"] = load(module)
        out["packages"][package] = info
    return out


def torch_version_file(torch_dir):
    facts = {}
    try:
        with open(os.path.join(torch_dir, "version.py")) as f:
            text = f.read()
    except OSError:
        return facts
    for key in ("__version__", "cuda", "hip", "git_version"):
        m = re.search(r"^%s\s*(?::\s*[^=]+)?=\s*(.+)$" % re.escape(key), text, re.M)
        if m:
            value = m.group(1).strip()
            if value.startswith(("'", '"')):
                facts[key] = value.strip("'\"")
            elif value == "None":
                facts[key] = None
    return facts


# conda-meta/<name>-<version>-<build>.json: the record conda writes for each package it installed into the env
CONDA_TORCH_PACKAGES = ("pytorch", "libtorch")  # the Python package, else its C++ libraries (same channel, same build)
CONDA_SUBDIR = re.compile(r"^(noarch|(linux|osx|win|emscripten|wasi|zos)-[a-z0-9_]+)$")


def conda_channel(record):
    """The short name of the channel a conda-meta record came from.

    conda and micromamba write ``"channel": "https://conda.anaconda.org/conda-forge/linux-64"`` (the channel's
    subdir URL); some frontends and old records write ``"conda-forge"``; defaults is
    ``https://repo.anaconda.com/pkgs/main/linux-64``; a label channel is ``.../conda-forge/label/rc/linux-64``; where
    "channel" is missing, the package ``"url"`` (``.../conda-forge/linux-64/pytorch-2.10.0-....conda``) says it.
    """
    text = record.get("channel") or record.get("url") or ""
    if "://" not in text:
        return text.strip("/") or None
    parts = [p for p in text.split("://", 1)[1].split("?")[0].split("/")[1:] if p]  # the path, past scheme and host
    if parts and parts[-1].endswith((".conda", ".tar.bz2")):
        parts.pop()
    if parts and CONDA_SUBDIR.match(parts[-1]):
        parts.pop()
    if "label" in parts[:-1]:
        parts = parts[: parts.index("label")]
    if len(parts) >= 2 and parts[-2] == "pkgs":
        return "pkgs/" + parts[-1]
    return parts[-1] if parts else None


def conda_torch(prefix):
    """Where a conda env's torch comes from: its conda-meta record (name, version, build string, channel), or None
    when conda did not install torch there (a venv, or torch from pip)."""
    meta = os.path.join(prefix, "conda-meta")
    try:
        entries = sorted(os.listdir(meta))
    except OSError:
        return None
    for name in CONDA_TORCH_PACKAGES:
        # the name is followed by the version, which starts with a digit ("pytorch-cuda-12.1-..." is another package)
        pattern = re.compile(r"^%s-\d.*\.json$" % re.escape(name))
        for entry in entries:
            if not pattern.match(entry):
                continue
            try:
                with open(os.path.join(meta, entry)) as f:
                    record = json.load(f)
            except (OSError, ValueError):
                continue
            if isinstance(record, dict) and record.get("name") == name:
                return {"name": name, "version": record.get("version"), "build": record.get("build"),
                        "channel": conda_channel(record), "subdir": record.get("subdir")}
    return None


def abi_from_library(torch_dir):
    """True/False from libc10's symbol names: the new ABI's std::string mangles as __cxx11."""
    lib_dir = os.path.join(torch_dir, "lib")
    for name in ("libc10.so", "libtorch_cpu.so"):
        path = os.path.join(lib_dir, name)
        if not os.path.isfile(path):
            continue
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            continue
        return b"St7__cxx11" in data, name
    return None, None


def deep_torch():
    try:
        import torch  # noqa: F401  (only with --deep)
    except Exception as e:  # a broken torch is a fact to report, not a crash
        return {"import_error": "%s: %s" % (type(e).__name__, e)}
    out = {
        "version": torch.__version__,
        "cuda": torch.version.cuda,
        "hip": getattr(torch.version, "hip", None),
        "cxx11_abi": bool(torch._C._GLIBCXX_USE_CXX11_ABI),
    }
    try:
        out["cuda_available"] = bool(torch.cuda.is_available())
        if out["cuda_available"]:
            out["device_name"] = torch.cuda.get_device_name(0)
            out["capability"] = "%d.%d" % torch.cuda.get_device_capability(0)
            out["arch_list"] = torch.cuda.get_arch_list()
    except Exception as e:
        out["cuda_error"] = "%s: %s" % (type(e).__name__, e)
    return out


def main(argv):
    deep = "--deep" in argv
    dirs = site_dirs()
    if "--extensions" in argv:
        sys.stdout.write(json.dumps(extensions_report(dirs)))
        return 0
    facts = {
        "python": "%d.%d.%d" % sys.version_info[:3],
        "executable": sys.executable,
        "prefix": sys.prefix,
        "base_prefix": getattr(sys, "base_prefix", sys.prefix),
        "is_venv": getattr(sys, "base_prefix", sys.prefix) != sys.prefix,
        "is_conda": os.path.isdir(os.path.join(sys.prefix, "conda-meta")),
        "machine": platform.machine(),
        "system": platform.system(),
        "implementation": platform.python_implementation(),
        "site_dirs": dirs,
        "packages": installed_versions(dirs),
        "extensions": {},
        "torch": None,
        "conda_torch": conda_torch(sys.prefix),
        "record": None,
    }
    for module in EXTENSIONS.values():
        facts["extensions"][module] = extension_present(dirs, module)
    site, torch_dir = find_package_dir(dirs, "torch")
    if torch_dir:
        vf = torch_version_file(torch_dir)
        abi, abi_source = abi_from_library(torch_dir)
        if "torch" not in facts["packages"] and vf.get("__version__"):
            # no metadata at all (copied in, or a build tree on sys.path): the version file still names it
            facts["packages"]["torch"] = {"version": vf["__version__"], "dist_info": None, "metadata": "torch/version.py"}
        facts["torch"] = {
            "dir": torch_dir,
            "version": vf.get("__version__"),
            "cuda": vf.get("cuda"),
            "hip": vf.get("hip"),
            "cxx11_abi": abi,
            "abi_source": abi_source,
        }
    for d in dirs:
        path = os.path.join(d, RECORD_FILE)
        if os.path.isfile(path):
            try:
                with open(path) as f:
                    facts["record"] = json.load(f)
            except (OSError, ValueError):
                pass
            break
    if deep:
        facts["deep"] = deep_torch()
    sys.stdout.write(json.dumps(facts))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
