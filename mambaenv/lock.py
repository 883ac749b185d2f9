"""Write the wheels a plan chose into the files a project declares them in: pip requirements, uv, pixi, conda.

Pure: targets and their locked wheels in, text out (tomlkit renders and merges TOML, loaded only here, only
when a TOML format is asked for). Fetching, hashing and writing files happen in commands/lock.py.

How each format pins the bytes:
- requirements: ``name @ URL --hash=sha256:...``: pip's hash mode (``--require-hashes``) refuses other bytes; a
  third-party build known only from its index's matrix (Astral's, predicted offline) has no file URL yet: its
  index is an ``--extra-index-url`` line and the wheel a pinned ``name==version+local``, without a hash;
- conda environment.yml: its pip section holds ``name @ URL#sha256=...``: conda hands those lines to pip as a
  requirements file, and pip and uv check a URL's ``#sha256=`` fragment without turning on hash mode (which
  would demand a hash for every dependency too);
- uv and pixi: ``[tool.uv.sources]`` and ``[pypi-dependencies]`` refuse a ``#sha256=`` fragment (uv: "Fragments
  are not allowed in URLs"): ``uv lock`` / ``pixi lock`` record the digest of what they download, so the sha256
  mambaenv knows stands beside each source as a comment, to compare with uv.lock / pixi.lock. A wheel an index
  serves (a wheelhouse, Astral's) is named by that index and its exact version, as Astral's own docs do
  (``uv add mamba-ssm --index astral-cu128=https://wheels.astral.sh/simple/cu128/``).

Several targets share one file through environment markers (``python_version``, ``platform_machine``); two
targets that need different wheels but only differ in torch, CUDA or the C++ ABI cannot, since no marker reads
those, and are refused with the fix (one file per target).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from mambaenv.errors import BadInput, ExitCode, MambaenvError

FORMATS = ("requirements", "uv", "pixi", "conda")
PIXI_PLATFORM = {"x86_64": "linux-64", "aarch64": "linux-aarch64"}


class LockError(MambaenvError):
    """A lock that cannot be written as asked (a wheel only this machine has, targets no marker tells apart)."""

    exit_code = ExitCode.NO_WORKING_PATH


@dataclass(frozen=True)
class LockedWheel:
    """One wheel a lock pins: where the team gets it and how its bytes are known."""

    package: str  # mamba_ssm
    version: str  # 2.2.4+cu12torch2.6cxx11abiTRUE, as its file name spells it
    filename: str
    url: str | None  # http(s)://..., or file://... for a wheelhouse on a shared folder; None: only its index knows it
    sha256: str | None
    origin: str  # upstream | wheelhouse | astral | local-build | conda-forge (the planner's origins, and conda's)
    source: str  # listed | live | predicted | probed | local: how sure the plan is that the file exists
    index: str | None = None  # the PEP 503 index it is listed in (wheelhouse, astral), else None
    hashed: str | None = None  # where sha256 came from: catalog | index | download; None: unknown
    requirement: str | None = None  # what an index installs it by: mamba-ssm==2.3.2.post1+cu.12.8.torch.2.11

    @property
    def key(self) -> str:
        """What makes two targets' wheels the same line: the file, or (known only to an index) the pin on that index."""
        return self.url or f"{self.index} {self.requirement}"

    def to_dict(self) -> dict:
        return {"package": self.package, "version": self.version, "file": self.filename, "url": self.url, "sha256": self.sha256,
                "hashed": self.hashed, "origin": self.origin, "source": self.source, "index": self.index, "requirement": self.requirement}


@dataclass(frozen=True)
class LockTarget:
    """One machine or env of the team: its facts (what markers can read) and the wheels locked for it."""

    label: str  # python=3.11,torch=2.6.0,torch-cuda=12.6,cxx11abi=true,machine=x86_64
    python: str  # 3.11
    machine: str  # x86_64
    torch: str | None = None
    torch_cuda: str | None = None
    cxx11_abi: bool | None = None
    wheels: tuple[LockedWheel, ...] = ()

    def to_dict(self) -> dict:
        return {"label": self.label, "python": self.python, "machine": self.machine, "torch": self.torch, "torch_cuda": self.torch_cuda,
                "cxx11abi": self.cxx11_abi, "wheels": [w.to_dict() for w in self.wheels]}


@dataclass(frozen=True)
class Entry:
    """One line of a lock: a wheel and the marker saying which targets take it (None: all of them)."""

    wheel: LockedWheel
    marker: str | None
    targets: tuple[str, ...]  # labels


@dataclass
class Locked:
    """What every writer works from: each package's entries, in install order."""

    targets: list[LockTarget]
    entries: dict[str, list[Entry]] = field(default_factory=dict)


# --- the decisions: which wheel may go into a lock, and which marker picks it ------------------------

def check_shareable(w: LockedWheel, label: str, fmt: str) -> None:
    """A lock is read on other machines: a wheel only this one has cannot go in."""
    if w.origin == "conda-forge":
        if fmt != "conda":
            raise LockError(f"{w.package} for {label} is a conda-forge package, which {fmt} cannot install",
                            "use --format conda, or lock a wheel (--wheelhouse, or an upstream release)")
        return
    from_index = w.origin == "wheelhouse" or w.index is not None
    url = w.url or w.index or ""
    if url.startswith(("http://", "https://")) or (url.startswith("file://") and from_index):
        return
    where = url[len("file://"):] if url.startswith("file://") else url
    raise LockError(f"{w.filename} ({w.package} for {label}) exists only on this machine ({where})",
                    f"publish it first: mambaenv publish {where} --to WHEELHOUSE (a shared folder or one a web server serves), "
                    "then lock with --wheelhouse URL")


def differing_facts(targets: list[LockTarget]) -> tuple[str, ...]:
    """The markers a file needs: the facts markers can read that differ among the targets."""
    keys = []
    if len({t.python for t in targets}) > 1:
        keys.append("python_version")
    if len({t.machine for t in targets}) > 1:
        keys.append("platform_machine")
    return tuple(keys)


def marker_of(t: LockTarget, keys: tuple[str, ...]) -> str | None:
    parts = [f"python_version == '{t.python}'" if k == "python_version" else f"platform_machine == '{t.machine}'" for k in keys]
    return " and ".join(parts) or None


def package_entries(targets: list[LockTarget], package: str, keys: tuple[str, ...]) -> list[Entry]:
    """One entry per distinct wheel of ``package``; a marker only when the targets take different wheels."""
    chosen = [(t, next(w for w in t.wheels if w.package == package)) for t in targets if any(w.package == package for w in t.wheels)]
    if len({w.key for _, w in chosen}) <= 1:
        return [Entry(chosen[0][1], None, tuple(t.label for t, _ in chosen))] if chosen else []
    by_marker: dict[str | None, tuple[LockTarget, LockedWheel]] = {}
    for t, w in chosen:
        m = marker_of(t, keys)
        seen = by_marker.setdefault(m, (t, w))
        if seen[1].key != w.key:
            raise LockError(f"{seen[0].label} and {t.label} need different {package} wheels ({seen[1].filename}, {w.filename}) "
                            "but no environment marker tells them apart (markers read Python and the machine, not torch, CUDA or the C++ ABI)",
                            "lock them into separate files: one --target and one --output each")
    merged: dict[str, list] = {}
    for m, (t, w) in by_marker.items():
        merged.setdefault(w.key, [w, []])[1].append((m, t.label))
    return [Entry(w, " or ".join(f"({m})" if len(ms) > 1 else m for m, _ in ms), tuple(label for _, label in ms))
            for w, ms in merged.values()]


def plan_entries(targets: list[LockTarget], fmt: str) -> Locked:
    """Check every wheel can be shared, then give each package its entries (the same order as the targets' wheels)."""
    if fmt not in FORMATS:
        raise BadInput(f"unknown lock format {fmt!r}", f"use one of {', '.join(FORMATS)}")
    if not targets:
        raise BadInput("nothing to lock", "give --target or the facts of one env")
    for t in targets:
        for w in t.wheels:
            check_shareable(w, t.label, fmt)
    keys = differing_facts(targets)
    packages = list(dict.fromkeys(w.package for t in targets for w in t.wheels))
    return Locked(targets, {p: package_entries(targets, p, keys) for p in packages})


# --- plain-text writers --------------------------------------------------------------------------

def header(targets: list[LockTarget], command: str) -> list[str]:
    lines = [f"# Written by `{command}`; run it again to update."] if command else []
    lines += ["# Targets:"] + [f"#   {t.label}" for t in targets]
    return lines


def provenance(w: LockedWheel, unhashed: str) -> str:
    """How sure the lock is about one file, in one comment line; ``unhashed``: what a missing sha256 means in this format."""
    how = {"catalog": "sha256 from the release's asset list", "index": "sha256 from the index",
           "download": "sha256 of the bytes downloaded when locking"}.get(w.hashed or "", "")
    if not w.sha256 and w.url is None:
        how = (f"no sha256: predicted from the index's build matrix, its file not yet read ({unhashed}); lock without --offline "
               "to read the index (file URL and sha256)")
    elif not w.sha256:
        how = f"no sha256 (no list gives one and the lock did not download it): {unhashed}; lock without --offline to hash it"
    third = ", a third-party build" if w.origin == "astral" else ""
    return f"# {w.package} {w.version} from {w.origin}{third} ({w.source}); {how}"


def pip_line(w: LockedWheel, marker: str | None, hash_option: bool) -> str:
    """``name @ URL`` (its sha256 as --hash or a #sha256= fragment); a wheel only its index knows: the pin on that index."""
    if w.url is None:
        line = w.requirement or f"{canonicalize_name(w.package)}=={w.version}"
    else:
        line = f"{w.package} @ {w.url}" + (f"#sha256={w.sha256}" if not hash_option and w.sha256 else "")
    if marker:
        line += f" ; {marker}"
    if hash_option and w.sha256:
        line += f" \\\n    --hash=sha256:{w.sha256}"
    return line


def index_options(locked: Locked) -> list[str]:
    """The ``--extra-index-url`` lines the pinned index entries need (pip reads options in a requirements file); PyPI
    stays the index for everything else, and a local-version pin matches no file there."""
    urls = list(dict.fromkeys(e.wheel.index for es in locked.entries.values() for e in es if e.wheel.url is None and e.wheel.index))
    if not urls:
        return []
    return ["# the index the pinned third-party wheels below come from:"] + [f"--extra-index-url {u}" for u in urls] + [""]


def requirements_text(locked: Locked, command: str = "") -> str:
    lines = header(locked.targets, command)
    if all(e.wheel.sha256 for es in locked.entries.values() for e in es):
        lines += ["# Install into the env that has its torch (pip's hash mode checks every file it downloads, so torch and",
                  "# the packages' dependencies must be installed first, or be hashed here too):",
                  "#   pip install --require-hashes -r requirements.txt", ""]
    else:  # hash mode refuses a line without a hash: say so where the install command is read
        lines += ["# Install into the env that has its torch; a line below has no sha256, so pip's hash mode would refuse it:",
                  "#   pip install -r requirements.txt", ""]
    lines += index_options(locked)
    for entries in locked.entries.values():
        for e in entries:
            lines += [provenance(e.wheel, "pip --require-hashes refuses this line"), pip_line(e.wheel, e.marker, hash_option=True)]
    return "\n".join(lines) + "\n"


def conda_text(locked: Locked, command: str = "", name: str = "mamba") -> str:
    """environment.yml: Python when the targets share one, pip, and the wheels in pip's section."""
    pythons = {t.python for t in locked.targets}
    lines = header(locked.targets, command)
    lines += ["# conda env create -f environment.yml  (torch first: this file does not install it)",
              f"name: {name}", "channels:", "  - conda-forge", "dependencies:"]
    if len(pythons) == 1:
        lines.append(f"  - python={pythons.pop()}")
    lines.append("  - pip")
    conda_pkgs = [e for entries in locked.entries.values() for e in entries if e.wheel.origin == "conda-forge"]
    lines += [f"  - conda-forge::{canonicalize_name(e.wheel.package)}={e.wheel.version}" for e in conda_pkgs]
    pip_entries = [e for entries in locked.entries.values() for e in entries if e.wheel.origin != "conda-forge"]
    if pip_entries:
        lines.append("  - pip:")
        lines += [f"    - {option}" for option in index_options(locked) if option.startswith("--")]
        for e in pip_entries:
            lines += [f"    {provenance(e.wheel, 'its bytes are not checked')}", f"    - {yaml_quoted(pip_line(e.wheel, e.marker, hash_option=False))}"]
    return "\n".join(lines) + "\n"


def yaml_quoted(text: str) -> str:
    # a marker's `'` and a URL's `#` (a YAML comment after a space) are safe inside double quotes
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# --- TOML: uv and pixi ------------------------------------------------------------------------------

def index_names(locked: Locked) -> dict[str, str]:
    """A name for every index a wheel comes from (uv refers to it by name): Astral's by its CUDA channel, astral-cu128,
    as their docs name it; a wheelhouse mambaenv-wheelhouse, then -2, -3."""
    origins = {e.wheel.index: e.wheel.origin for es in locked.entries.values() for e in es if e.wheel.index}
    names: dict[str, str] = {}
    for url, origin in origins.items():
        base = f"astral-{url.rstrip('/').rsplit('/', 1)[-1]}" if origin == "astral" else "mambaenv-wheelhouse"
        taken = sum(1 for n in names.values() if n == base or n.startswith(base + "-"))
        names[url] = base + (f"-{taken + 1}" if taken else "")
    return names


def uv_source(e: Entry, names: dict[str, str]) -> dict:
    src = {"index": names[e.wheel.index]} if e.wheel.index else {"url": e.wheel.url}
    if e.marker:
        src["marker"] = e.marker
    return src


def uv_dependency(e: Entry) -> str:
    """An index source needs the exact version (local part and all), or uv takes the newest file the index has."""
    name = canonicalize_name(e.wheel.package)
    spec = (e.wheel.requirement or f"{name}=={e.wheel.version}") if e.wheel.index else name
    return f"{spec} ; {e.marker}" if e.marker else spec


def uv_tables(locked: Locked) -> tuple[list[str], dict, list[dict]]:
    """The project dependencies, [tool.uv.sources] and [[tool.uv.index]] entries, as plain data."""
    names = index_names(locked)
    deps, sources = [], {}
    for package, entries in locked.entries.items():
        deps += [uv_dependency(e) for e in entries]
        found = [uv_source(e, names) for e in entries]
        sources[canonicalize_name(package)] = found[0] if len(found) == 1 else found
    indexes = [{"name": n, "url": u, "explicit": True} for u, n in names.items()]
    return deps, sources, indexes


def sha_comment(w: LockedWheel) -> str:
    """What to compare uv.lock's or pixi.lock's hash with."""
    return f"{w.filename} sha256={w.sha256 or 'unknown'} ({w.origin}, {w.source})"


def uv_text(locked: Locked, command: str = "") -> str:
    """The tables to put into pyproject.toml (``--write pyproject.toml`` merges them)."""
    import tomlkit  # start-up: TOML is rendered only for the uv and pixi formats

    deps, sources, indexes = uv_tables(locked)
    doc = tomlkit.document()
    for line in header(locked.targets, command) + ["[project] dependencies to add (--write does it):"]:
        doc.add(tomlkit.comment(line.removeprefix("# ")))
    for d in deps:
        doc.add(tomlkit.comment(f'  "{d}",'))
    doc.add(tomlkit.nl())
    doc["tool"] = tomlkit.table(is_super_table=True)
    doc["tool"]["uv"] = uv_table(locked, sources, indexes)
    return tomlkit.dumps(doc)


def uv_table(locked: Locked, sources: dict, indexes: list[dict]):
    import tomlkit  # start-up: TOML is rendered only for the uv and pixi formats

    uv = tomlkit.table(is_super_table=True)
    uv["sources"] = table = tomlkit.table()
    add_sources(table, locked, sources)
    if indexes:
        aot = tomlkit.aot()
        for ix in indexes:
            aot.append(tomlkit.item(ix))
        uv["index"] = aot
    return uv


def drop_sha_comments(table, ours: set[str]) -> None:
    """The comments an earlier lock put above our sources (and the blank lines around them) go with those sources."""
    from tomlkit.items import Comment, Whitespace  # start-up: TOML is parsed only for --write

    def ours_(item) -> bool:
        text = item.as_string().lstrip("# ")
        return " sha256=" in text and canonicalize_name(text.split("-", 1)[0]) in ours

    body = table.value.body
    body[:] = [(k, v) for k, v in body if not (k is None and isinstance(v, Comment) and ours_(v))]
    while body and body[-1][0] is None and isinstance(body[-1][1], Whitespace):  # the blank line the last lock ended with
        body.pop()


def add_sources(table, locked: Locked, sources: dict) -> None:
    """Each package's source, after one comment per wheel with the sha256 to compare with uv.lock."""
    import tomlkit  # start-up: TOML is rendered only for the uv and pixi formats

    for package, entries in locked.entries.items():
        for e in entries:
            table.add(tomlkit.comment(sha_comment(e.wheel)))
        table[canonicalize_name(package)] = toml_value(sources[canonicalize_name(package)])


def toml_value(value):
    """An inline table, or an array of inline tables (one per marker), the way uv's docs write sources."""
    import tomlkit  # start-up: TOML is rendered only for the uv and pixi formats

    def inline(d: dict):
        t = tomlkit.inline_table()
        t.update(d)
        return t

    if isinstance(value, dict):
        return inline(value)
    arr = tomlkit.array()
    arr.extend(inline(v) for v in value)
    return arr.multiline(True)


def requirement_name(text: str) -> str | None:
    try:
        return canonicalize_name(Requirement(text).name)
    except InvalidRequirement:
        return None


def merge_pyproject(text: str, locked: Locked, where: str = "pyproject.toml") -> str:
    """``text`` with our dependencies, sources and indexes put in; every other byte is left as it was."""
    import tomlkit  # start-up: TOML is parsed only for --write

    doc = parse_toml(text, where)
    project = doc.get("project")
    if project is None:
        raise BadInput(f"{where} has no [project] table, which [tool.uv.sources] belongs to", "run uv init first, or lock to --output")
    deps, sources, indexes = uv_tables(locked)
    ours = set(sources)
    merge_dependencies(project, deps, ours)
    uv = super_table(super_table(doc, "tool"), "uv")
    table = uv.get("sources")
    if table is None:
        uv["sources"] = table = tomlkit.table()
    for key in [k for k in table if canonicalize_name(k) in ours]:
        del table[key]
    drop_sha_comments(table, ours)
    add_sources(table, locked, sources)
    table.add(tomlkit.nl())
    merge_indexes(uv, indexes)
    return tomlkit.dumps(doc)


def merge_dependencies(project, deps: list[str], ours: set[str]) -> None:
    """Our packages' entries in [project] dependencies replaced in place: other entries keep their comments and layout."""
    import tomlkit  # start-up: TOML is parsed only for --write

    arr = project.get("dependencies")
    if arr is None:
        project["dependencies"] = arr = tomlkit.array()
    for i in [i for i, d in enumerate(arr) if requirement_name(str(d)) in ours][::-1]:
        del arr[i]
    for d in deps:
        arr.append(d)
    if len(arr) > 1:
        arr.multiline(True)


def parse_toml(text: str, where: str):
    import tomlkit  # start-up: TOML is parsed only for --write
    from tomlkit.exceptions import TOMLKitError  # start-up: as above

    try:
        return tomlkit.parse(text)
    except TOMLKitError as e:
        raise BadInput(f"{where} is not valid TOML ({e})", "fix it (or lock to --output and merge by hand)") from None


def super_table(parent, key: str):
    import tomlkit  # start-up: TOML is parsed only for --write

    if key not in parent:
        parent[key] = tomlkit.table(is_super_table=True)
    return parent[key]


def merge_indexes(uv, indexes: list[dict]) -> None:
    """Our [[tool.uv.index]] entries replace those of the same name; every other index stays, in its place."""
    import tomlkit  # start-up: TOML is parsed only for --write

    if not indexes:
        return
    ours = {ix["name"] for ix in indexes}
    aot = uv.get("index")
    if aot is None:
        uv["index"] = aot = tomlkit.aot()
    for i in [i for i, ix in enumerate(aot) if ix.get("name") in ours][::-1]:
        del aot[i]
    for ix in indexes:
        aot.append(tomlkit.item(ix))


def pixi_feature(t: LockTarget) -> str:
    """A pixi feature/environment name for a target: lowercase letters, digits and dashes."""
    parts = [f"py{t.python.replace('.', '')}", t.machine.replace("_", "")]
    if t.torch:
        parts.append("torch" + "".join(t.torch.split("+")[0].split(".")[:2]))
    if t.torch_cuda:
        parts.append("cu" + t.torch_cuda.replace(".", ""))
    if t.cxx11_abi is not None:
        parts.append("abi" + ("1" if t.cxx11_abi else "0"))
    return "-".join(parts)


def pixi_dependency(w: LockedWheel):
    return {"version": f"=={w.version}", "index": w.index} if w.index else {"url": w.url}


def pixi_tables(locked: Locked) -> dict:
    """pixi.toml tables as plain data: one target's wheels under [target.<platform>.pypi-dependencies]; several
    targets get a feature and an environment each (pixi has one Python per environment, and no torch marker)."""
    def deps_of(t: LockTarget) -> dict:
        return {canonicalize_name(w.package): pixi_dependency(w) for w in t.wheels}

    if len(locked.targets) == 1:
        t = locked.targets[0]
        return {"target": {PIXI_PLATFORM[t.machine]: {"pypi-dependencies": deps_of(t)}}}
    features, envs = {}, {}
    for t in locked.targets:
        name = pixi_feature(t)
        features[name] = {"dependencies": {"python": f"{t.python}.*"},
                          "target": {PIXI_PLATFORM[t.machine]: {"pypi-dependencies": deps_of(t)}}}
        envs[name] = [name]
    return {"feature": features, "environments": envs}


def pixi_text(locked: Locked, command: str = "") -> str:
    import tomlkit  # start-up: TOML is rendered only for the uv and pixi formats

    doc = tomlkit.document()
    for line in header(locked.targets, command) + ["pixi lock records each file's sha256 in pixi.lock; mambaenv knows:"]:
        doc.add(tomlkit.comment(line.removeprefix("# ")))
    for e in (e for entries in locked.entries.values() for e in entries):
        doc.add(tomlkit.comment(f"  {sha_comment(e.wheel)}"))
    doc.add(tomlkit.nl())
    for key, value in pixi_tables(locked).items():
        doc[key] = to_tables(value)
    return tomlkit.dumps(doc)


def to_tables(value: dict):
    """Nested dicts as TOML tables; a dependency's own dict (it has url/version) as an inline table."""
    import tomlkit  # start-up: TOML is rendered only for the uv and pixi formats

    if not isinstance(value, dict):
        return value
    if {"url", "version", "index"} & set(value):
        t = tomlkit.inline_table()
        t.update(value)
        return t
    t = tomlkit.table(is_super_table=not any(not isinstance(v, dict) for v in value.values()))
    for k, v in value.items():
        t[k] = to_tables(v)
    return t


def merge_pixi(text: str, locked: Locked, where: str = "pixi.toml") -> str:
    """``text`` with our pypi-dependencies (and per-target features) put in; every other entry is left as it was."""
    import tomlkit  # start-up: TOML is parsed only for --write

    doc = parse_toml(text, where)
    for key, value in pixi_tables(locked).items():
        merge_into(doc, key, value)
    return tomlkit.dumps(doc)


def merge_into(parent, key: str, value) -> None:
    """Set ``parent[key]`` to ``value``, going down into tables that exist so that their other keys stay."""
    if isinstance(value, dict) and key in parent and hasattr(parent[key], "items") and not {"url", "version", "index"} & set(value):
        if key == "pypi-dependencies":  # another spelling of our package's name (mamba_ssm) is the same dependency
            for k in [k for k in parent[key] if canonicalize_name(k) in value and k not in value]:
                del parent[key][k]
        for k, v in value.items():
            merge_into(parent[key], k, v)
        return
    parent[key] = to_tables(value)


def render(fmt: str, locked: Locked, command: str = "") -> str:
    writers = {"requirements": requirements_text, "uv": uv_text, "pixi": pixi_text, "conda": conda_text}
    return writers[fmt](locked, command)
