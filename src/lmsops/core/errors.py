"""One error hierarchy for lmsops: every user-facing failure is an LmsopsError.

The CLI turns an LmsopsError into one clear message and a non-zero exit; anything
else is a bug and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Sequence


class LmsopsError(Exception):
    """Base of every error lmsops reports to its user."""

    exit_code = 1


class ConfigError(ValueError, LmsopsError):
    """A file of the repository (versions.yaml, env/, a Dockerfile, ...) is invalid."""

    exit_code = 2


class PrerequisiteError(LmsopsError):
    """A tool lmsops needs (Docker engine, Compose v2, debootstrap, git) is missing or stopped."""

    exit_code = 3


class DeployError(LmsopsError):
    """A release did not reach the declared state; the message names the service and why."""


class CommandError(LmsopsError):
    """An external command failed; carries the argv, its exit code and its output."""

    def __init__(self, cmd: Sequence[str], returncode: int, output: str, hint: str = "") -> None:
        self.cmd = list(cmd)
        self.returncode = returncode
        self.output = output
        self.hint = hint
        super().__init__(self._message())

    def _message(self) -> str:
        tail = "\n".join(self.output.strip().splitlines()[-15:])
        text = f"command failed (exit {self.returncode}): {' '.join(self.cmd)}"
        if tail:
            text += "\n" + _indent(tail)
        if self.hint:
            text += f"\n{self.hint}"
        return text


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())
