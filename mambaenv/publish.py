"""Write a wheelhouse: wheels under packages/, a PEP 503 simple index (and its PEP 691 JSON twin) under simple/.

Layout of the folder given with ``--to`` (any static web server, an NFS share or file:// serves it):

    packages/<file>.whl                     every wheel, flat (also a plain ``pip --find-links`` folder)
    simple/index.html                       one link per project (PEP 503)
    simple/<project>/index.html             one link per file, ``#sha256=`` fragment (PEP 503)
    simple/<project>/index.json             the same as PEP 691 JSON, for clients that read it directly
    mambaenv-wheelhouse.json                file -> sha256, size: the index's source of truth

Upstream's release workflow and ``mambaenv build`` both rename a built wheel to add ``+cu..torch..cxx11abi..``,
so its METADATA still says the plain version; pip (not uv) discards such a file from an index as "inconsistent
version". Publish keeps the file name and writes the local version into METADATA (and its RECORD line) too.
The rewrite copies every other zip entry as it was, so the same input always publishes the same bytes.

A file once published is never replaced: the same bytes again are a no-op, other bytes under the
same name are refused. Publishers share the folder through a file lock; every file is written
beside its final name and renamed into place, so a reader sees the old or the new index, never half.
"""
from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
import shutil
import stat
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from filelock import FileLock
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import Version

from mambaenv import jsonshape
from mambaenv.atomic import replaced_on_success, write_bytes
from mambaenv.bundle import open_offline_source
from mambaenv.digest import sha256_file
from mambaenv.errors import MambaenvError, PublishError
from mambaenv.packages import of_filename
from mambaenv.wheel import inspect_wheel, name_problem

MANIFEST = "mambaenv-wheelhouse.json"
LOCK = ".mambaenv-publish.lock"
PACKAGES_DIR = "packages"
SIMPLE_DIR = "simple"
_PROJECT = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
MANIFEST_MAX_BYTES = 64 << 20


@dataclass
class PublishResult:
    wheelhouse: str
    added: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    projects: list[str] = field(default_factory=list)
    metadata_versions_set: list[str] = field(default_factory=list)  # files whose METADATA got the file name's local version
    left_out: list[dict] = field(default_factory=list)  # {file, reason}: files under packages/ the index does not list
    notes: list[str] = field(default_factory=list)  # parts of the manifest that were not trusted, and so read again

    def to_dict(self) -> dict:
        return {"wheelhouse": self.wheelhouse, "added": self.added, "unchanged": self.unchanged, "projects": self.projects,
                "metadata_versions_set": self.metadata_versions_set, "left_out": self.left_out, "notes": self.notes,
                "index_url": Path(self.wheelhouse, SIMPLE_DIR).as_uri() + "/"}


# --- pure parts -----------------------------------------------------------------------------------

def project_of(filename: str) -> str:
    """The normalized project name of a wheel file (PEP 503), or a clear refusal of a name that is not a wheel's."""
    if filename != Path(filename).name or filename.startswith("."):
        raise PublishError(f"{filename!r} is not a plain file name", "give wheel files named name-version-tags.whl")
    try:
        name, _version, _build, _tags = parse_wheel_filename(filename)
    except InvalidWheelFilename as e:
        raise PublishError(f"{filename} is not a valid wheel file name ({e})", "publish only .whl files as pip built or named them") from None
    project = canonicalize_name(name)
    if not _PROJECT.fullmatch(project):  # it becomes a folder name under simple/: letters, digits and single dashes only
        raise PublishError(f"{filename} names the project {name!r}, which is not a valid project name", "publish only .whl files as pip built them")
    return project


def _archs_attr(entry: dict) -> str:
    archs = entry.get("gpu_archs")
    return f' data-gpu-archs="{html.escape(",".join(archs))}"' if archs else ""


def project_page(project: str, files: dict[str, dict]) -> str:
    """PEP 503 page for one project; links go to ../../packages/ so the file URLs stay the same for every project.

    ``data-gpu-archs`` (ignored by pip and uv) carries the GPU architectures a build was made for, when publish was told.
    """
    links = "\n".join(f'    <a href="../../{PACKAGES_DIR}/{quote(f)}#sha256={html.escape(files[f]["sha256"])}"{_archs_attr(files[f])}>'
                      f'{html.escape(f)}</a><br/>' for f in sorted(files))
    return (f"<!DOCTYPE html>\n<html>\n  <head><meta name=\"pypi:repository-version\" content=\"1.0\">"
            f"<title>Links for {html.escape(project)}</title></head>\n  <body>\n    <h1>Links for {html.escape(project)}</h1>\n"
            f"{links}\n  </body>\n</html>\n")


def project_json(project: str, files: dict[str, dict]) -> str:
    """PEP 691 JSON for one project (served as a file; a server that negotiates can send it for the JSON Accept type)."""
    body = {"meta": {"api-version": "1.0"}, "name": project,
            "files": [dict({"filename": f, "url": f"../../{PACKAGES_DIR}/{quote(f)}", "hashes": {"sha256": files[f]["sha256"]},
                            "size": files[f]["size"]}, **({"_gpu_archs": files[f]["gpu_archs"]} if files[f].get("gpu_archs") else {}))
                      for f in sorted(files)]}  # PEP 691 leaves keys starting with "_" to the index for its own use
    return json.dumps(body, indent=1) + "\n"


def root_page(projects: list[str]) -> str:
    links = "\n".join(f'    <a href="{quote(p)}/">{html.escape(p)}</a><br/>' for p in sorted(projects))
    return (f"<!DOCTYPE html>\n<html>\n  <head><meta name=\"pypi:repository-version\" content=\"1.0\"><title>Simple index</title></head>\n"
            f"  <body>\n{links}\n  </body>\n</html>\n")


def record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def with_version(metadata: str, version: str) -> str:
    return re.sub(r"^Version: .*$", f"Version: {version}", metadata, count=1, flags=re.M)


def with_record_line(record: str, path: str, data: bytes) -> str:
    lines = [f"{path},{record_hash(data)},{len(data)}" if line.split(",", 1)[0] == path else line for line in record.splitlines()]
    return "\n".join(lines) + "\n"


# --- side effects ---------------------------------------------------------------------------------

def consistent_wheel(src: Path, workdir: Path) -> tuple[Path, bool]:
    """The wheel as it will be published: ``src`` itself, or a copy whose METADATA carries the file name's local version."""
    file_version = parse_wheel_filename(src.name)[1]
    with zipfile.ZipFile(src) as zf:
        meta_name = next(n for n in zf.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA"))
        meta = zf.read(meta_name).decode("utf-8")
        m = re.search(r"^Version: (.+)$", meta, re.M)
        meta_version = Version(m.group(1).strip()) if m else None
        if meta_version == file_version:
            return src, False
        if meta_version is None or meta_version.local or meta_version.public != file_version.public:
            raise PublishError(f"{src.name}: its METADATA says version {meta_version}, its file name {file_version}",
                               "publish the file under the name pip gave it (only a +local part may be added to a name)")
        record_name = meta_name.rsplit("/", 1)[0] + "/RECORD"
        new_meta = with_version(meta, str(file_version)).encode("utf-8")
        out = workdir / src.name
        with zipfile.ZipFile(out, "w") as dst:
            for info in zf.infolist():
                if info.filename == meta_name:
                    data = new_meta
                elif info.filename == record_name:
                    data = with_record_line(zf.read(info).decode("utf-8"), meta_name, new_meta).encode("utf-8")
                else:
                    data = zf.read(info)
                dst.writestr(info, data)  # the original ZipInfo: same order, date and compression, so the same bytes each time
    return out, True


def _no_links(root: Path, path: Path) -> None:
    """Every step from the wheelhouse folder down to ``path`` is a real folder or file, never a symlink: a link planted
    as ``simple/<project>`` or ``packages`` would carry publish's writes out of the wheelhouse."""
    at = root
    for part in path.relative_to(root).parts:
        at = at / part
        if at.is_symlink():
            raise PublishError(f"{at} is a symlink inside the wheelhouse; publish never writes through one",
                               "replace it with the real folder or file (or publish --to the folder it points to)")


def _write_atomic(root: Path, path: Path, data: bytes) -> None:
    _no_links(root, path.parent)
    path.parent.mkdir(parents=True, exist_ok=True)
    _no_links(root, path)
    write_bytes(path, data, durable=True)


def _copy_atomic(root: Path, src: Path, dest: Path) -> None:
    _no_links(root, dest)
    with open(src, "rb") as fi, replaced_on_success(dest, durable=True) as fo:
        shutil.copyfileobj(fi, fo, 1 << 20)


def collect_wheels(sources: list[Path], workdir: Path) -> list[Path]:
    """Wheel files from wheel paths, folders of wheels and mambaenv bundles (every wheel a bundle holds)."""
    out: list[Path] = []
    for src in sources:
        src = Path(src).expanduser()
        if src.is_file() and src.suffix == ".whl":
            out.append(src)
        elif src.is_dir():
            found = sorted(src.glob("*.whl"))
            if not found:
                raise PublishError(f"{src} holds no .whl files", "give wheel files, a folder of wheels or a bundle")
            out += found
        elif src.is_file() and tarfile.is_tarfile(src):
            _pkgs, dirs = open_offline_source(src, Path(tempfile.mkdtemp(dir=workdir)))
            out += sorted(dirs[0].glob("*.whl"))
        elif not src.exists():
            raise PublishError(f"no such file or directory: {src}", "give wheel files, a folder of wheels or a bundle")
        else:
            raise PublishError(f"{src.name} is neither a wheel, a folder nor a bundle", "give wheel files, a folder of wheels or a bundle")
    return out


def _arch(value) -> str | None:
    return None if isinstance(value, str) and re.fullmatch(r"\d+\.\d+", value) else "is not a compute capability like 9.0"


# One manifest entry, as publish writes it. A project name is never read back (it is the file name's), and an entry of
# another shape is not trusted: that file is read and hashed again.
ENTRY_SHAPE = {"sha256": jsonshape.sha256_hex, "size": int, "?gpu_archs": [_arch], "?mtime_ns": int, "?ctime_ns": int}


def _read_manifest(root: Path) -> tuple[dict, list[str]]:
    """(file -> entry for the manifest's entries of the shape publish writes, a note for each part that is not)."""
    path = root / MANIFEST
    where = str(path)
    try:
        data = jsonshape.loads(jsonshape.read_file(path, where, MANIFEST_MAX_BYTES), where)
        files = jsonshape.checked(data, {"files": {...: dict}}, where)["files"]
    except FileNotFoundError:
        return {}, []
    except (OSError, ValueError) as e:
        return {}, [f"{e}; every wheel under {PACKAGES_DIR}/ was read again"]
    good, notes = {}, []
    for name, entry in files.items():
        problem = jsonshape.problem(entry, ENTRY_SHAPE, f"files[{name!r}]")
        if problem:
            notes.append(f"{where}: {problem}; that file was read again")
        else:
            good[name] = entry
    return good, notes


def _unchanged_since_hashed(entry: dict, st: os.stat_result) -> bool:
    """The manifest's digest still stands for the file only while its size, mtime and ctime are those publish recorded
    when it hashed it: any write changes the ctime, and no user can set a ctime back."""
    return (stat.S_ISREG(st.st_mode) and entry["size"] == st.st_size and entry.get("mtime_ns") == st.st_mtime_ns
            and entry.get("ctime_ns") == st.st_ctime_ns)


def _why_not_indexed(p: Path, st: os.stat_result) -> str | None:
    """Why a file under packages/ stays out of the index (a link, not a whole wheel, named as another project); None: indexed."""
    if stat.S_ISLNK(st.st_mode):
        return "a symlink: the index lists only files the wheelhouse holds itself"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    try:
        project_of(p.name)
        info = inspect_wheel(p, read_elf=False)
    except MambaenvError as e:
        return e.message
    return name_problem(info)


def _entry(digest: str, st: os.stat_result, project: str, gpu_archs=None) -> dict:
    entry = {"sha256": digest, "size": st.st_size, "project": project, "mtime_ns": st.st_mtime_ns, "ctime_ns": st.st_ctime_ns}
    return dict(entry, gpu_archs=list(gpu_archs)) if gpu_archs else entry


def _known_files(root: Path, manifest: dict) -> tuple[dict[str, dict], list[dict]]:
    """(file -> entry for every wheel under packages/ the index may list, [{file, reason}] for the files left out).
    A file the manifest cannot vouch for (copied in by hand, changed, or its entry damaged) is read and hashed here."""
    out, left_out = {}, []
    for p in sorted((root / PACKAGES_DIR).glob("*.whl")):
        st = os.lstat(p)
        entry = manifest.get(p.name)
        if entry is not None and _unchanged_since_hashed(entry, st):
            out[p.name] = dict(entry, project=project_of(p.name))
            continue
        why = _why_not_indexed(p, st)
        if why:
            left_out.append({"file": p.name, "reason": why})
            continue
        digest = sha256_file(p)
        archs = entry.get("gpu_archs") if entry is not None and entry["sha256"] == digest else None  # recorded for these bytes
        out[p.name] = _entry(digest, st, project_of(p.name), archs)
    return out, left_out


def _pages_to_write(manifest: dict, files: dict) -> set[str]:
    """The projects whose page lists other files now (added, copied in or removed by hand, an entry damaged)."""
    before, after = ({n: (e["sha256"], e.get("gpu_archs")) for n, e in d.items()} for d in (manifest, files))
    out = set()
    for n in set(before) | set(after):
        if before.get(n) != after.get(n):
            try:
                out.add(project_of(n))
            except PublishError:
                pass  # a name that names no project never had a page
    return out


def _write_index(root: Path, files: dict[str, dict], projects: set[str]) -> None:
    by_project: dict[str, dict] = {}
    for name, entry in files.items():
        by_project.setdefault(entry["project"], {})[name] = entry
    for project in projects:
        pfiles = by_project.get(project, {})
        _write_atomic(root, root / SIMPLE_DIR / project / "index.html", project_page(project, pfiles).encode())
        _write_atomic(root, root / SIMPLE_DIR / project / "index.json", project_json(project, pfiles).encode())
    _write_atomic(root, root / SIMPLE_DIR / "index.html", root_page(list(by_project)).encode())
    _write_atomic(root, root / MANIFEST, json.dumps({"files": files}, indent=1, sort_keys=True).encode())


def check_gpu_archs(text: str | None) -> list[str] | None:
    """``9.0,8.6`` -> ["9.0", "8.6"]: the compute capabilities a build was compiled for (mambaenv build --arch)."""
    if not text:
        return None
    archs = [a.strip() for a in text.split(",") if a.strip()]
    if not archs or not all(re.fullmatch(r"\d+\.\d+", a) for a in archs):
        raise PublishError(f"malformed --gpu-arch {text!r}", "give compute capabilities as major.minor, e.g. --gpu-arch 9.0 or 8.0,8.6")
    return archs


def publish(sources: list[Path], to: Path, lock_timeout: float = 600, gpu_archs: list[str] | None = None) -> PublishResult:
    """Check every wheel (whole, well named, no clash) before writing anything, then add them and rewrite the index."""
    root = Path(to).expanduser().resolve()
    if root.exists() and not root.is_dir():
        raise PublishError(f"--to {to} is a file, not a folder", "give the folder of the wheelhouse (made if missing)")
    with tempfile.TemporaryDirectory(prefix="mambaenv-publish-") as tmp:
        wheels = collect_wheels(sources, Path(tmp))
        incoming: dict[str, tuple[Path, str]] = {}
        rewritten = []
        staging = Path(tmp) / "consistent"
        staging.mkdir()
        for w in wheels:
            project_of(w.name)
            problem = name_problem(inspect_wheel(w, read_elf=False))  # a truncated or foreign file never enters the index
            if problem:
                raise PublishError(f"{problem}: not published", "publish the file under the name pip gave it")
            w, changed = consistent_wheel(w, staging)
            if changed:
                rewritten.append(w.name)
            digest = sha256_file(w)
            seen = incoming.get(w.name)
            if seen and seen[1] != digest:
                raise PublishError(f"two different files named {w.name} given", "publish one of them")
            incoming[w.name] = (w, digest)
        try:
            (root / PACKAGES_DIR).mkdir(parents=True, exist_ok=True)  # only now: bad input leaves no folder behind
        except OSError as e:
            raise PublishError(f"cannot make the wheelhouse in {to} ({e.strerror})", "give a folder you can write to") from None
        _no_links(root, root / LOCK)  # the lock is opened for writing: a link planted under its name would be followed
        try:
            lock = FileLock(str(root / LOCK), timeout=lock_timeout)
            lock.acquire()
        except Exception as e:
            raise PublishError(f"cannot lock the wheelhouse {root} ({type(e).__name__})",
                               "another publish may be running; wait, or check that the folder is writable") from None
        try:
            result = _publish_locked(root, incoming, gpu_archs)
        finally:
            lock.release()
    result.metadata_versions_set = sorted(set(rewritten) & set(result.added))
    return result


def _publish_locked(root: Path, incoming: dict[str, tuple[Path, str]], gpu_archs: list[str] | None = None) -> PublishResult:
    _no_links(root, root / PACKAGES_DIR)
    manifest, notes = _read_manifest(root)
    files, left_out = _known_files(root, manifest)
    result = PublishResult(str(root), left_out=left_out, notes=notes)
    _refuse_clashes(root, incoming, files, {f["file"] for f in left_out})
    for name, (path, digest) in sorted(incoming.items()):
        if name in files:
            result.unchanged.append(name)
            continue
        dest = root / PACKAGES_DIR / name
        _copy_atomic(root, path, dest)
        # the kernels' wheels carry --gpu-arch; a dependency in the same call is not restricted
        archs = gpu_archs if gpu_archs and of_filename(name) else None
        files[name] = _entry(digest, os.lstat(dest), project_of(name), archs)
        result.added.append(name)
    changed = _pages_to_write(manifest, files)
    index_missing = not (root / SIMPLE_DIR / "index.html").exists()
    if changed or index_missing or files != manifest:
        _write_index(root, files, changed | ({e["project"] for e in files.values()} if index_missing else set()))
    result.projects = sorted({e["project"] for e in files.values()})
    return result


def _refuse_clashes(root: Path, incoming: dict, files: dict, left_out: set[str]) -> None:
    for n, (_p, digest) in sorted(incoming.items()):
        if n in left_out:
            raise PublishError(f"{root / PACKAGES_DIR / n} is already there, and is not a wheel publish can index",
                               "look at it, delete it from packages/ by hand if it is not yours to keep, then publish")
        if n in files and files[n]["sha256"] != digest:
            raise PublishError(f"{root / PACKAGES_DIR / n} already exists with other bytes (sha256 {files[n]['sha256'][:12]}…, "
                               f"yours {digest[:12]}…)", "a published file is never replaced: a build for another GPU type goes into "
                               "that GPU type's wheelhouse; if the published file itself is bad, delete it from packages/ by hand, then publish")
