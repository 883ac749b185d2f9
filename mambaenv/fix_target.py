"""A printed fix that is a command for another env than the active one names that env, so typed as shown it acts there."""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

# The subcommands that act on an env and take --python/--env; others (catalog, docker, inspect) are left as written.
ENV_SUBCOMMANDS = ("install", "build", "smoke", "doctor", "explain")
_MAMBAENV = re.compile(r"(?<![\w./-])mambaenv (" + "|".join(ENV_SUBCOMMANDS) + r")\b")
_PIP_INSTALL = re.compile(r"(?<![\w./-])pip install\b")
_PYTHON_RUN = re.compile(r"(?<![\w./-])python (?=-[cm]\b)")
# Where one command ends inside a sentence: a clause break, a parenthesis, a comment, or "or"/"then" between commands.
_CLAUSE_END = re.compile(r"[;,()#]| or | then | and ")
_NAMES_TARGET = re.compile(r"(?<!\S)--(python|env|new-env)(?=[=\s]|$)")


@dataclass(frozen=True)
class NamedTarget:
    """The env a command was pointed at with --python or --env (None of these when it worked on the active env)."""

    python: str  # that env's interpreter, as the command found it
    env: str | None = None  # the --env name when that is how the user named it: mambaenv commands repeat it

    def option(self) -> str:
        return f"--env {shlex.quote(self.env)}" if self.env else f"--python {shlex.quote(self.python)}"


def named_target(python_flag: str | None, env_flag: str | None, exe: str) -> NamedTarget | None:
    """The explicit target, or None when neither flag was given (the fixes stay as they are for the active env)."""
    if not python_flag and not env_flag:
        return None
    return NamedTarget(exe, env_flag if env_flag and not python_flag else None)


def aim_fix(text: str | None, target: NamedTarget | None) -> str | None:
    """``text`` with each command in it aimed at ``target``: ``mambaenv install`` gets ``--python PATH`` (or ``--env NAME``)
    unless its clause already names a target; ``pip install`` and ``python -c/-m`` run through the target's interpreter.
    Prose without such a command comes back unchanged; so does everything when ``target`` is None."""
    if not text or target is None:
        return text
    exe = shlex.quote(target.python)

    def mambaenv(m: re.Match) -> str:
        rest = m.string[m.end():]
        end = _CLAUSE_END.search(rest)
        if _NAMES_TARGET.search(rest[:end.start()] if end else rest):
            return m.group(0)
        return f"{m.group(0)} {target.option()}"

    def pip(m: re.Match) -> str:
        if m.string[:m.start()].endswith(("-m ", "uv ")):  # already run by an interpreter, or uv's own pip with its own --python
            return m.group(0)
        return f"{exe} -m pip install"

    text = _MAMBAENV.sub(mambaenv, text)
    text = _PIP_INSTALL.sub(pip, text)
    return _PYTHON_RUN.sub(f"{exe} ", text)
