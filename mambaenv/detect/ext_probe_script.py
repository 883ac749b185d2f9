# Runs INSIDE the target environment, with that env's interpreter: Python 3.7+ and the standard
# library only. It prints one JSON object: for mamba_ssm and causal_conv1d, what the dist-info says
# and whether the compiled CUDA extension loads. Loading it needs torch's libraries, so this script
# imports torch first -- in the probed env's own process, never in mambaenv's. It does so only when
# one of the packages is installed.
import json
import os
import re
import sys
import sysconfig

# copy of upstream.EXTENSION_MODULES: this file runs in the target env and cannot import mambaenv (tests/test_detect.py checks it)
EXTENSIONS = {"mamba_ssm": "selective_scan_cuda", "causal_conv1d": "causal_conv1d_cuda"}


def _site_dirs():
    seen = []
    for key in ("purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path and path not in seen:
            seen.append(path)
    for path in sys.path:
        if path and os.path.isdir(path) and path not in seen and ("site-packages" in path or "dist-packages" in path):
            seen.append(path)
    return seen


def _norm(name):
    return re.sub(r"[-_.]+", "_", name).lower()


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except (OSError, UnicodeDecodeError):
        return None


def dist_info(dirs, package):
    for d in dirs:
        try:
            entries = sorted(os.listdir(d))
        except OSError:
            continue
        for entry in entries:
            if entry.endswith(".dist-info") and _norm(entry[: -len(".dist-info")].partition("-")[0]) == package:
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


def extension_file(dirs, module):
    for d in dirs:
        try:
            for entry in os.listdir(d):
                if entry.startswith(module + ".") and entry.endswith((".so", ".pyd")):
                    return os.path.join(d, entry)
        except OSError:
            continue
    return None


def load(module):
    import importlib

    try:
        mod = importlib.import_module(module)
    except Exception as e:  # the error text is the fact we want
        return None, "%s: %s" % (type(e).__name__, e)
    return getattr(mod, "__file__", None), None


def main():
    dirs = _site_dirs()
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
        info["extension"] = extension_file(dirs, module)
        info["loaded_from"], info["load_error"] = (None, None)
        if info["extension"] and out["torch"] and "import_error" not in out["torch"]:
            info["loaded_from"], info["load_error"] = load(module)
        out["packages"][package] = info
    sys.stdout.write(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
