"""Helpers for the unit tests of the command line and the bench: a recorder standing in for an engine
function, an engine-free Docker that also lists and removes image tags, a clock that only moves when
told to, and running `lmsops ...` in process with its exit code and output."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from lmsops.cli import main
from lmsops.core import proc
from lmsops.core.paths import Repo
from tests.unit.fakes import FakeDocker


@dataclass
class Call:
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


@dataclass
class Recorder:
    """Stands in for a function: remembers every call, then returns `result` or raises `error`."""

    result: Any = None
    error: BaseException | None = None
    calls: list[Call] = field(default_factory=list)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append(Call(args, kwargs))
        if self.error is not None:
            raise self.error
        return self.result

    @property
    def call(self) -> Call:
        """The one call made (fails the test when there were none or several)."""
        assert len(self.calls) == 1, f"expected one call, got {len(self.calls)}: {self.calls}"
        return self.calls[0]


class Clock:
    """time.perf_counter / time.monotonic that move only when a fake action advances them."""

    def __init__(self) -> None:
        self.now = 1000.0

    def perf_counter(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class EngineDocker(FakeDocker):
    """FakeDocker that also answers what the CLI and the bench ask an engine: its version, the image
    tags (by repository pattern, as `docker image ls PATTERN`), and records removals, compose and
    plain docker calls."""

    def __init__(self) -> None:
        super().__init__()
        self.removed: list[str] = []
        self.compose_calls: list[tuple[str, list[Path], tuple[str, ...]]] = []
        self.runs: list[tuple[str, ...]] = []

    def require_engine(self) -> str:
        return "20.10.24"

    def server_version(self) -> dict[str, Any]:
        return {"Version": "20.10.24"}

    def image_tags(self, pattern: str | None = None) -> list[str]:
        return [ref for ref in self.images if pattern is None or fnmatch.fnmatch(ref.rsplit(":", 1)[0], pattern)]

    def remove_image(self, ref: str) -> None:
        self.removed.append(ref)
        self.images.pop(ref, None)

    def compose(
        self, project: str, files: Sequence[Path], env_file: Path | None, *args: str, check: bool = True
    ) -> proc.Result:
        self.compose_calls.append((project, list(files), args))
        return proc.Result(["docker", "compose", *args], 0, "", "")

    def run(self, *args: str, check: bool = True, input_bytes: bytes | None = None) -> proc.Result:
        self.runs.append(args)
        return proc.Result(["docker", *args], 0, "", "")


@dataclass(frozen=True)
class Outcome:
    """What one `lmsops ...` run gave its user."""

    code: int
    out: str
    err: str

    def error_line(self) -> str:
        """The one line on stderr (no traceback, nothing else), without its `lmsops: error: ` prefix."""
        lines = self.err.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in self.err, f"expected one error line, got:\n{self.err}"
        assert lines[0].startswith("lmsops: error: "), lines[0]
        return lines[0].removeprefix("lmsops: error: ")


def lmsops(capsys: pytest.CaptureFixture[str], *argv: str) -> Outcome:
    """Run `lmsops ARGV` in this process; argparse's own refusals (SystemExit) give their code too."""
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return Outcome(code, captured.out, captured.err)


def environment_file(repo: Repo, name: str) -> dict[str, Any]:
    """The environment file `name` as the repository reads it (a throwaway copy's, for a throwaway repo)."""
    data = yaml.safe_load((repo.environments / f"{name}.yaml").read_text())
    assert isinstance(data, dict)
    return data


def add_services(root: Path) -> None:
    """Two Python services (catalog, enrollment) and one on the OS root (gateway), each with an app/ folder."""
    for name, base in (("catalog", "PYTHON_IMAGE"), ("enrollment", "PYTHON_IMAGE"), ("gateway", "OS_IMAGE")):
        folder = root / "services" / name
        (folder / "app").mkdir(parents=True, exist_ok=True)
        (folder / "Dockerfile").write_text(f"ARG {base}\nFROM ${{{base}}}\nCOPY services/{name}/app /app\n")
        (folder / "app" / "main.py").write_text(f"NAME = {name!r}\n")
