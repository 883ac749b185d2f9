"""The module graph: no import cycle among mambaenv's modules, neither at load time nor through function-local imports."""
import ast
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent.parent / "mambaenv"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def load_time_imports(tree: ast.Module, modules: set[str]) -> set[str]:
    """mambaenv modules imported by statements that run at import time (module level, also inside if/try), not in functions."""
    found = set()

    def visit(nodes):
        for node in nodes:
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("mambaenv"))
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mambaenv") and node.level == 0:
                found.add(node.module)
                # `from mambaenv import commands` imports the submodule mambaenv.commands
                found.update(f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in modules)
            elif isinstance(node, (ast.If, ast.Try)):
                visit(node.body)
                visit(getattr(node, "orelse", []))
                for h in getattr(node, "handlers", []):
                    visit(h.body)
                visit(getattr(node, "finalbody", []))
            elif isinstance(node, (ast.With,)):
                visit(node.body)

    visit(tree.body)
    return found


def _dynamic_import(node: ast.AST) -> str | None:
    """``importlib.import_module("mambaenv.x")`` / ``__import__("mambaenv.x")`` with a literal name: an edge too."""
    if not isinstance(node, ast.Call) or not node.args or not isinstance(node.args[0], ast.Constant):
        return None
    f = node.func
    name = f.attr if isinstance(f, ast.Attribute) else (f.id if isinstance(f, ast.Name) else None)
    arg = node.args[0].value
    return arg if name in ("import_module", "__import__") and isinstance(arg, str) and arg.startswith("mambaenv") else None


def all_imports(tree: ast.Module, modules: set[str]) -> set[str]:
    """Every mambaenv module a file imports anywhere: function-local imports (kept for start-up time) and importlib
    calls with a literal name included."""
    found = set()
    for node in ast.walk(tree):
        if _dynamic_import(node):
            found.add(_dynamic_import(node))
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("mambaenv"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mambaenv") and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in modules)
    return found


def import_graph(imports=load_time_imports) -> dict[str, set[str]]:
    files = [p for p in PACKAGE_ROOT.rglob("*.py")]
    modules = {module_name(p) for p in files}
    graph = {}
    for p in files:
        name = module_name(p)
        deps = imports(ast.parse(p.read_text()), modules) & modules
        graph[name] = {dep for dep in deps if dep != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state, stack = {}, []

    def dfs(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = dfs(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = dfs(node)
            if found:
                return found
    return None


def test_no_import_cycle_among_mambaenv_modules():
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle)


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_cycle_even_through_function_local_imports():
    """A function-local import hides a cycle from Python, not from a reader: bundle <-> commands was one."""
    graph = import_graph(all_imports)
    assert "mambaenv.commands" not in graph["mambaenv.bundle"]
    cycle = find_cycle(graph)
    assert cycle is None, " -> ".join(cycle)


# Run in the target env (stdlib only, Python 3.7+): importing torch or mamba_ssm inside a function is what they probe.
TARGET_ENV_SCRIPTS = ("probe_script.py", "smoke_script.py")
REASONS = ("# start-up:", "# optional:")


def unexplained_local_imports(path: Path, root: Path = PACKAGE_ROOT) -> list[str]:
    """Imports inside a function with no ``# start-up:`` / ``# optional:`` comment on their line or earlier in that function."""
    lines = path.read_text().splitlines()
    found = []
    for fn in ast.walk(ast.parse("\n".join(lines))):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(fn):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                before = lines[fn.lineno - 1:node.lineno]  # the def line through the import's own line
                if not any(r in line for line in before for r in REASONS):
                    found.append(f"{path.relative_to(root)}:{node.lineno} {lines[node.lineno - 1].strip()}")
    return found


def test_every_function_local_import_says_why():
    """An import stays inside a function only for start-up time (or an optional dependency), and says so."""
    found = [hit for p in sorted(PACKAGE_ROOT.rglob("*.py")) if p.name not in TARGET_ENV_SCRIPTS for hit in unexplained_local_imports(p)]
    assert not found, found


def test_the_local_import_check_sees_an_unexplained_import(tmp_path):
    bare = tmp_path / "bare.py"
    bare.write_text("def f():\n    import json\n    return json\n\n\ndef g():\n    # start-up: fine\n    import json\n    return json\n")
    assert unexplained_local_imports(bare, tmp_path) == ["bare.py:2 import json"]


def test_the_graph_sees_importlib_edges():
    tree = ast.parse("import importlib\ndef f():\n    return importlib.import_module('mambaenv.plan')\n")
    assert all_imports(tree, {"mambaenv.plan"}) == {"mambaenv.plan"}


def test_no_command_imports_another_command():
    """What two commands share lives below them (plan, download, install, ...): no command is another's service layer."""
    graph = import_graph(all_imports)
    crossing = {(a, b) for a, deps in graph.items() if a.startswith("mambaenv.commands.")
                for b in deps if b.startswith("mambaenv.commands.") and b != a}
    assert not crossing, crossing


def longest_chain(graph: dict[str, set[str]]) -> list[str]:
    """The longest import chain (the graph has no cycle: test_no_cycle_even_through_function_local_imports)."""
    memo: dict[str, list[str]] = {}

    def down(node: str) -> list[str]:
        if node not in memo:
            memo[node] = [node] + max((down(n) for n in graph.get(node, ())), key=len, default=[])
        return memo[node]

    return max((down(n) for n in sorted(graph)), key=len)


def test_the_chain_from_the_command_line_to_the_ground_is_short():
    """Data and pure rules at the bottom, one planner, commands on top: at most 9 modules from ``python -m mambaenv``
    down, every import counted (function-local and importlib ones too)."""
    chain = longest_chain(import_graph(all_imports))
    assert len(chain) <= 9, " -> ".join(chain)


def loaded_after(argv: list[str], env_extra: dict | None = None) -> set[str]:
    """Top-level module names loaded by the time ``mambaenv ARGV`` exits (run as the console script runs it)."""
    import json
    import os
    import subprocess
    import sys

    code = ("import atexit, json, sys\n"
            "atexit.register(lambda: sys.stderr.write('\\nMODULES ' + json.dumps(sorted({m.split('.')[0] for m in sys.modules})) + '\\n'))\n"
            f"sys.argv = ['mambaenv'] + {argv!r}\n"
            "from mambaenv.cli import main\nmain()\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PACKAGE_ROOT.parent,
                         env=dict(os.environ, **(env_extra or {})))
    line = [x for x in out.stderr.splitlines() if x.startswith("MODULES ")]
    assert line, out.stderr
    return set(json.loads(line[-1][len("MODULES "):]))


def test_an_offline_resolve_loads_no_renderer_and_no_validation_library():
    """Start-up is most of what resolve costs: URLs are printed without rich, and typer's pydantic-based releases
    (0.29+: a validator per option at every start) stay out (pyproject pins below them)."""
    loaded = loaded_after(["resolve", "--offline", "--python", "3.10", "--torch", "2.1.2+cu121", "--cxx11abi", "false"])
    assert "mambaenv" in loaded and "typer" in loaded
    assert not loaded & {"rich", "pydantic", "requests", "html", "docker"}, loaded & {"rich", "pydantic", "requests", "html", "docker"}


def test_a_resolve_builds_only_its_own_command_and_help_still_lists_all():
    from mambaenv.cli import app, app_for

    one = app_for(["resolve", "--offline"])
    assert [c.callback.__name__ for c in one.registered_commands] == ["resolve"] and not one.registered_groups
    assert [g.name for g in app_for(["docker", "run", "."]).registered_groups] == ["docker"]
    for argv in ([], ["--help"], ["resolv"], ["--version"]):
        assert app_for(argv) is app
