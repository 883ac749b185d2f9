"""Every exception mambaenv raises on purpose, and the one table of exit codes every command uses.

Each class is a MambaenvError: the CLI turns it into one line (the problem, then the fix) and its exit code.
"""
from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Every exit status mambaenv returns; ``EXIT_CODE_HELP`` (shown in ``mambaenv --help``) explains each."""

    OK = 0
    NO_WORKING_PATH = 1
    BAD_INPUT = 2
    DOWNLOAD_FAILED = 3
    WHEEL_DOES_NOT_FIT = 4
    INSTALL_FAILED = 5
    BUILD_FAILED = 6
    DOCKER_FAILED = 7
    NO_CUDA_DEVICE = 8
    INTERRUPTED = 130


EXIT_CODE_HELP = {
    ExitCode.OK: "done; for doctor: a working path exists",
    ExitCode.NO_WORKING_PATH: "no wheel fits, the smoke test failed, or explain knows no cause",
    ExitCode.BAD_INPUT: "bad input or a problem to fix before starting (the message says which)",
    ExitCode.DOWNLOAD_FAILED: "a download failed or its bytes did not verify",
    ExitCode.WHEEL_DOES_NOT_FIT: "a wheel is broken or does not fit the target env; nothing was changed",
    ExitCode.INSTALL_FAILED: "the install failed and was rolled back",
    ExitCode.BUILD_FAILED: "a build from source failed",
    ExitCode.DOCKER_FAILED: "the Docker engine or an image failed",
    ExitCode.NO_CUDA_DEVICE: "smoke: no CUDA device here, so the install cannot be proven on this machine",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C)",
}


def exit_code_table() -> str:
    """The table as lines for ``--help``."""
    return "\n".join(f"{int(code):>3}  {code.name.lower()}: {EXIT_CODE_HELP[code]}" for code in ExitCode)


class MambaenvError(Exception):
    """A problem the user can fix: ``message`` names it, ``fix`` says what to do."""

    exit_code = ExitCode.BAD_INPUT

    def __init__(self, message: str, fix: str | None = None, exit_code: int | None = None, detail: str | None = None):
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.detail = detail  # a tool's own output behind the message: --json carries it, the one line does not
        if exit_code is not None:
            self.exit_code = exit_code

    def one_line(self) -> str:
        return f"{self.message}; {self.fix}" if self.fix else self.message


class BadInput(MambaenvError):
    exit_code = ExitCode.BAD_INPUT


class BadWheel(MambaenvError):
    """A wheel file is broken or does not fit the target env."""

    exit_code = ExitCode.WHEEL_DOES_NOT_FIT


class DownloadError(MambaenvError):
    exit_code = ExitCode.DOWNLOAD_FAILED
    resumable = False  # True: the partial file is kept, so running the same command again resumes


class TransferInterrupted(DownloadError):
    resumable = True


class WheelhouseError(MambaenvError):
    """A wheelhouse (folder or index) could not be read, or one of its files is not what its index says."""

    exit_code = ExitCode.DOWNLOAD_FAILED


class InstallError(MambaenvError):
    exit_code = ExitCode.INSTALL_FAILED


class BuildError(MambaenvError):
    exit_code = ExitCode.BUILD_FAILED


class DockerError(MambaenvError):
    """The container engine (Docker or Podman) or an image failed, or cannot do what was asked."""

    exit_code = ExitCode.DOCKER_FAILED


class PublishError(MambaenvError):
    exit_code = ExitCode.BAD_INPUT


class PageUnread(MambaenvError):
    """A page (an index, an API answer) that did not arrive whole: too slow, too big, or no connection (httpget)."""

    exit_code = ExitCode.DOWNLOAD_FAILED
    timed_out = False  # True: the deadline passed (asking that server again in the same command costs it again)
