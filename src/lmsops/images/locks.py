"""Hash-locked dependency files: every requirements*.in next to its requirements*.lock.

`nox -s lock` recompiles them all (or those of the named folders) with uv, for the CPython of the
python base (versions.yaml: "3.11-1" -> 3.11) on every platform (--universal), so the same lock serves
the image and a developer's machine. The tools' own locks target the host's supported Python instead.
"""

from __future__ import annotations

from pathlib import Path

from lmsops.core import proc
from lmsops.core.errors import ConfigError
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter
from lmsops.images.versions import load_versions, python_minor, python_of

COMPILE_COMMAND = "nox -s lock"
# The tools run on the host, not in an image: the oldest Python the engine supports (pyproject.toml).
HOST_PYTHON = "3.11"


def lock_inputs(repo: Repo, names: list[str]) -> list[Path]:
    """The .in files of libs/* and services/* (runtime before dev: dev locks are constrained by them)."""
    folders = sorted([*repo.libs.glob("*/"), *repo.services.glob("*/")])
    if names:
        known = {folder.name: folder for folder in folders}
        unknown = [name for name in names if name not in known]
        if unknown:
            raise ConfigError(f"no folder {unknown[0]!r} under libs/ or services/; known: {', '.join(known)}")
        folders = [known[name] for name in names]
    inputs: list[Path] = []
    for folder in folders:
        inputs += [path for path in (folder / "requirements.in", folder / "requirements-dev.in") if path.is_file()]
    return inputs


def _uv() -> str:
    found = proc.tool("uv")
    if not found:
        raise ConfigError("uv is not installed here; run `nox -s lock`, which installs it")
    return found


def lock_file(source: Path, target: Path, cwd: Path, extra: str | None = None, python: str | None = None) -> None:
    """uv pip compile source (a requirements .in, or pyproject.toml with one of its extras) into target
    (paths in its comments relative to cwd), for CPython `python` (default: the python base of the
    repository cwd is in, or whose libs/ it links: a template's scratch copy). The one way every lock of
    the repository is compiled."""
    rel_source, rel_target = str(source.relative_to(cwd)), str(target.relative_to(cwd))
    python = python or _image_python(cwd)
    proc.run(
        [_uv(), "pip", "compile", "--quiet", "--generate-hashes", "--universal", "--python-version", python,
         "--custom-compile-command", COMPILE_COMMAND, rel_source, *(["--extra", extra] if extra else []),
         "--output-file", rel_target],
        cwd=cwd,
        hint=f"uv could not resolve {rel_source}",
    )  # fmt: skip


def _image_python(cwd: Path) -> str:
    libs = cwd / "libs"
    return python_of(libs.resolve() if libs.is_symlink() else cwd)


def compile_locks(repo: Repo, names: list[str], report: Reporter) -> list[Path]:
    written = []
    python = python_minor(load_versions(repo))
    for source in lock_inputs(repo, names):
        target = source.with_suffix(".lock")
        lock_file(source, target, repo.root, python=python)
        report.say(f"    {repo.display(target)}: locked")
        written.append(target)
    return written


# The tools' own locks: nox for .ci/run, the Compose plugin's wheel, and everything the sessions use
# (pyproject.toml's dev extra).
TOOL_LOCKS = (
    ("requirements/nox.in", None, "requirements/nox.lock"),
    ("requirements/compose.in", None, "requirements/compose.lock"),
    ("pyproject.toml", "dev", "requirements/dev.lock"),
)


def compile_tool_locks(repo: Repo, report: Reporter) -> list[Path]:
    written = []
    for source, extra, target in TOOL_LOCKS:
        lock_file(repo.root / source, repo.root / target, repo.root, extra, python=HOST_PYTHON)
        report.say(f"    {target}: locked")
        written.append(repo.root / target)
    return written
