"""A printed fix that is a command for another env than the active one names that env, so typed as shown it acts there."""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import PurePosixPath

# The subcommands that act on an env and take --python/--env; others (catalog, docker, inspect) are left as written.
ENV_SUBCOMMANDS = ("install", "build", "smoke", "doctor", "explain")
_START = r"(?<![\w./'-])"  # a command starts a word: not inside a path, a URL or a quoted argument
# One pass over the text: what is inserted (a path that may itself hold "pip install") is never read again.
_COMMAND = re.compile(
    _START + r"(?:(?P<mambaenv>mambaenv (?:" + "|".join(ENV_SUBCOMMANDS) + r"))\b"
    r"|(?P<uv>uv pip install)\b"
    r"|(?P<conda>conda install)\b"
    r"|(?P<pip>pip3? install)\b"
    r"|(?P<python>python3?)(?= -[cm]\b))")
# Where one command ends inside a sentence: a clause break, a parenthesis, a comment, a new line, or "or"/"then"/"and".
_CLAUSE_END = re.compile(r"[;,()#\n]| or | then | and ")
_NAMES_PYTHON = re.compile(r"(?<!\S)--(python|env|new-env)(?=[=\s]|$)")
_NAMES_CONDA_ENV = re.compile(r"(?<!\S)(-n|-p|--name|--prefix)(?=[=\s]|$)")


@dataclass(frozen=True)
class NamedTarget:
    """The env a command was pointed at with --python or --env (None of these when it worked on the active env)."""

    python: str  # that env's interpreter, as the command found it
    env: str | None = None  # the --env name when that is how the user named it: mambaenv commands repeat it

    def option(self) -> str:
        return f"--env {shlex.quote(self.env)}" if self.env else f"--python {shlex.quote(self.python)}"

    def conda_option(self) -> str:
        """conda's own way to name the env: its name, else its prefix (the folder above the interpreter's bin/)."""
        if self.env and "/" not in self.env:
            return f"-n {shlex.quote(self.env)}"
        prefix = self.env or str(PurePosixPath(self.python).parent.parent)
        return f"-p {shlex.quote(prefix)}"


def named_target(python_flag: str | None, env_flag: str | None, exe: str) -> NamedTarget | None:
    """The explicit target, or None when neither flag was given (the fixes stay as they are for the active env)."""
    if not python_flag and not env_flag:
        return None
    return NamedTarget(exe, env_flag if env_flag and not python_flag else None)


def _clause_after(text: str, end: int) -> str:
    rest = text[end:]
    stop = _CLAUSE_END.search(rest)
    return rest[:stop.start()] if stop else rest


def aim_fix(text: str | None, target: NamedTarget | None) -> str | None:
    """``text`` with each command in it aimed at ``target``: ``mambaenv install`` and ``uv pip install`` get ``--python
    PATH`` (or ``--env NAME``), ``conda install`` gets ``-n NAME`` or ``-p PREFIX``, unless their clause already names
    an env; ``pip install`` and ``python -c/-m`` run through the target's interpreter. Prose without such a command
    comes back unchanged; so does everything when ``target`` is None."""
    if not text or target is None:
        return text
    exe = shlex.quote(target.python)

    def aim(m: re.Match) -> str:
        word, clause = m.group(0), _clause_after(m.string, m.end())
        if m.group("mambaenv"):
            return word if _NAMES_PYTHON.search(clause) else f"{word} {target.option()}"
        if m.group("uv"):
            return word if _NAMES_PYTHON.search(clause) else f"{word} --python {exe}"
        if m.group("conda"):
            return word if _NAMES_CONDA_ENV.search(clause) else f"{word} {target.conda_option()}"
        if m.group("pip"):
            return word if m.string[:m.start()].endswith("-m ") else f"{exe} -m pip install"  # already run by an interpreter
        return exe

    return _COMMAND.sub(aim, text)
