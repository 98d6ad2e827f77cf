"""Stand-ins for the unit tests of lmsops.images and lmsops.templates.

- FakeRunner replaces lmsops.core.proc.run and proc.stream: a test's `answer` replies to the programs
  it stands in for (uv, pip, pytest, copier, debootstrap, chroot ...) and every call it answers is
  recorded; the programs it leaves alone (answer None: git, tar) run for real.
- ImageDocker is FakeDocker whose images hold packages, as the real ones would: a built image has
  its base's Debian packages plus its EXTRA_PACKAGES; it answers the throwaway containers that
  lmsops.images.facts and lmsops.images.outdated run, the pull of a pinned digest and docker import.
- fake_os_root stands in for bootstrap inside build: the OS root appears (with the os version's
  packages) when its inputs changed, as debootstrap would make it.
"""

from __future__ import annotations

import io
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lmsops.core import proc
from lmsops.core.docker import Docker
from lmsops.core.errors import CommandError
from lmsops.core.labels import OCI
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter
from lmsops.images import build as build_module
from lmsops.images.bootstrap import INPUTS_LABEL, BootstrapResult, Mode, os_inputs
from lmsops.images.versions import Versions
from tests.unit.conftest import write
from tests.unit.fakes import FakeDocker


@dataclass
class Call:
    """One program lmsops ran through proc, as it asked for it."""

    argv: list[str]
    cwd: Path | None
    env: dict[str, str] | None
    input_bytes: bytes | None = None
    hint: str = ""

    @property
    def program(self) -> str:
        return Path(self.argv[0]).name


Answer = Callable[[Call], proc.Result | None]


def reply(call: Call, returncode: int = 0, stdout: str = "", stderr: str = "") -> proc.Result:
    """What a program answered to `call`."""
    return proc.Result(call.argv, returncode, stdout, stderr)


class FakeRunner:
    """proc.run and proc.stream, answered by `answer` (None: run the program for real)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, answer: Answer) -> None:
        self.answer = answer
        self.calls: list[Call] = []
        self._real_run, self._real_stream = proc.run, proc.stream
        monkeypatch.setattr(proc, "run", self.run)
        monkeypatch.setattr(proc, "stream", self.stream)

    def argvs(self, program: str) -> list[list[str]]:
        """The argv of every answered call of one program (its file name)."""
        return [call.argv for call in self.calls if call.program == program]

    def run(
        self,
        argv: Sequence[str],
        *,
        check: bool = True,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        input_bytes: bytes | None = None,
        timeout: float | None = None,
        hint: str = "",
    ) -> proc.Result:
        call = Call(list(argv), cwd, dict(env) if env is not None else None, input_bytes, hint)
        answered = self.answer(call)
        if answered is None:
            return self._real_run(
                argv, check=check, cwd=cwd, env=env, input_bytes=input_bytes, timeout=timeout, hint=hint
            )
        self.calls.append(call)
        if check and answered.returncode != 0:
            raise CommandError(argv, answered.returncode, answered.output, hint)
        return answered

    def stream(
        self,
        argv: Sequence[str],
        on_line: proc.OnLine,
        *,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        hint: str = "",
    ) -> proc.Result:
        call = Call(list(argv), cwd, dict(env) if env is not None else None, None, hint)
        answered = self.answer(call)
        if answered is None:
            return self._real_stream(argv, on_line, cwd=cwd, env=env, hint=hint)
        self.calls.append(call)
        for line in answered.output.splitlines():
            on_line(line)
        if answered.returncode != 0:
            raise CommandError(argv, answered.returncode, answered.output, hint)
        return answered


def os_packages(version: str) -> dict[str, str]:
    """The OS root's Debian packages per os version: 12-2 was bootstrapped after a libssl3 security fix."""
    return {"base-files": "12.4+deb12u5", "libssl3": "3.0.11-1~deb12u2" if version == "12-1" else "3.0.15-1~deb12u1"}


NO_REGISTRY = (
    'Error response from daemon: Get "https://registry-1.docker.io/v2/": '
    "dial tcp: lookup registry-1.docker.io: no such host"
)


@dataclass
class Imported:
    """What `docker import` received: the root filesystem as it was then, and the --change lines."""

    files: dict[str, str]  # path -> text
    dirs: set[str]
    changes: list[str]
    labels: dict[str, str]


class ImageDocker(FakeDocker):
    """FakeDocker with the image contents the tests read back (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self.by_id: dict[str, dict[str, Any]] = {}  # every image ever made: docker inspects untagged ids too
        self.python_packages: dict[str, dict[str, str]] = {}  # service name -> what pip installed into it
        self.newer: dict[str, tuple[str, str]] = {}  # Debian package -> (candidate version, suite) on the mirror
        self.mirror_failure: str | None = None  # the output of a failed `apt-get update` in the container
        self.registry: set[str] = set()  # digests a pull can reach
        self.pulls: list[str] = []
        self.imports: list[Imported] = []
        self.runs: list[dict[str, Any]] = []
        self.asked: list[bytes] = []  # what outdated's container was given on stdin

    def add_image(self, ref: str, labels: Mapping[str, str] | None = None) -> str:
        image_id = super().add_image(ref, labels)
        self.by_id[image_id] = self.images[ref]
        return image_id

    def image_inspect(self, ref: str) -> dict[str, object] | None:
        return self.images.get(ref) or self.by_id.get(ref)

    def image_tags(self, pattern: str | None = None) -> list[str]:
        """Newest first, like `docker image ls`."""
        return [ref for ref in reversed(self.images) if pattern is None or ref.rsplit(":", 1)[0] == pattern]

    def build(
        self,
        *,
        context: Path,
        dockerfile: Path,
        tags: Sequence[str],
        build_args: Mapping[str, str],
        labels: Mapping[str, str],
        iidfile: Path,
        target: str | None = None,
        on_line: Any = None,
    ) -> str:
        image_id = super().build(
            context=context,
            dockerfile=dockerfile,
            tags=tags,
            build_args=build_args,
            labels=labels,
            iidfile=iidfile,
            target=target,
            on_line=on_line,
        )
        doc = self.images[tags[0]]
        base = self.images.get(labels.get(f"{OCI}.base.name", ""), {})
        extra = {name: "1.0" for name in build_args.get("EXTRA_PACKAGES", "").split()}
        doc["Debian"] = {**base.get("Debian", {}), **extra}
        title = labels.get(f"{OCI}.title", "")
        if title in self.python_packages:
            doc["Python"] = dict(self.python_packages[title])
        return image_id

    def set_debian(self, ref: str, packages: Mapping[str, str]) -> None:
        self.images[ref]["Debian"] = dict(packages)

    def run_once(
        self,
        image: str,
        *,
        env: Mapping[str, str] | None = None,
        args: Sequence[str] = (),
        entrypoint: str | None = None,
        network: str | None = None,
        input_bytes: bytes | None = None,
        options: Sequence[str] = (),
        pull: str = "never",
    ) -> proc.Result:
        self.runs.append({"image": image, "entrypoint": entrypoint, "network": network, "args": list(args)})
        argv = ["docker", "run", "--rm", image, *args]
        doc = self.images.get(image) or self.by_id.get(image)
        if doc is None:
            return proc.Result(argv, 125, "", f"Unable to find image '{image}' locally")
        if entrypoint == "dpkg-query":
            return proc.Result(argv, 0, "".join(f"{n} {v}\n" for n, v in dict(doc.get("Debian", {})).items()), "")
        if entrypoint == "python3":
            if "Python" not in doc:
                return proc.Result(argv, 127, "", 'exec: "python3": executable file not found in $PATH')
            return proc.Result(argv, 0, "".join(f"{n} {v}\n" for n, v in dict(doc["Python"]).items()), "")
        if entrypoint == "sh":
            return self._candidates(argv, input_bytes or b"")
        raise AssertionError(f"unexpected container: {entrypoint} {args}")

    def _candidates(self, argv: list[str], installed: bytes) -> proc.Result:
        """What outdated's script prints: `package installed candidate suite` per newer package."""
        self.asked.append(installed)
        if self.mirror_failure is not None:
            return proc.Result(argv, 100, "", self.mirror_failure)
        lines = []
        for line in installed.decode().splitlines():
            package, version = line.split()
            if package in self.newer and self.newer[package][0] != version:
                candidate, suite = self.newer[package]
                lines.append(f"{package} {version} {candidate} {suite}".strip())
        return proc.Result(argv, 0, "".join(f"{line}\n" for line in lines), "")

    def pull(self, ref: str) -> None:
        self.pulls.append(ref)
        name, _, digest = ref.partition("@")
        if digest not in self.registry:
            raise CommandError(["docker", "pull", "--quiet", ref], 1, NO_REGISTRY)
        self.add_image(ref)
        self.images[ref]["RepoDigests"] = [f"{name}@{digest}"]

    def import_rootfs(self, rootfs: Path, ref: str, changes: Sequence[str]) -> str:
        files = {str(p.relative_to(rootfs)): p.read_text() for p in rootfs.rglob("*") if p.is_file()}
        dirs = {str(p.relative_to(rootfs)) for p in rootfs.rglob("*") if p.is_dir()}
        label_line = next(change for change in changes if change.startswith("LABEL "))
        pairs = [pair.partition("=") for pair in shlex.split(label_line.removeprefix("LABEL "))]
        labels = {key: value for key, _, value in pairs}
        self.imports.append(Imported(files, dirs, list(changes), labels))
        return self.add_image(ref, labels)


def fake_os_root(monkeypatch: pytest.MonkeyPatch, docker: ImageDocker) -> list[str]:
    """build's bootstrap: the OS root is made anew (with os_packages) when its inputs changed.
    Returns the list of os versions bootstrapped, which grows as they are."""
    made: list[str] = []

    def bootstrap(repo: Repo, _docker: Docker, versions: Versions, _mode: Mode, _report: Reporter) -> BootstrapResult:
        reference, wanted = versions.os.reference, os_inputs(repo, versions)
        if docker.image_labels(reference).get(INPUTS_LABEL) == wanted:
            return BootstrapResult(reference, docker.image_id(reference) or "", "debootstrap", changed=False)
        image_id = docker.add_image(reference, {INPUTS_LABEL: wanted, f"{OCI}.version": versions.os.version})
        docker.set_debian(reference, os_packages(versions.os.version))
        made.append(versions.os.version)
        return BootstrapResult(reference, image_id, "debootstrap", changed=True)

    monkeypatch.setattr(build_module, "bootstrap", bootstrap)
    return made


def add_service(repo: Repo, name: str, base: str = "python", dev_lock: bool = False) -> Path:
    """services/<name> building FROM a base (`os` for the OS root), with a dev lock when asked."""
    arg = base.upper().replace("-", "_") + "_IMAGE"
    folder = repo.services / name
    write(folder / "Dockerfile", f"ARG {arg}\nFROM ${{{arg}}}\nCOPY services/{name}/app /app\n")
    write(folder / "app" / "main.py", f"print({name!r})\n")
    if dev_lock:
        write(folder / "requirements-dev.lock", f"pytest==8.3.4 \\\n    --hash=sha256:{'a' * 64}\n")
    return folder


def reporter() -> tuple[Reporter, io.StringIO]:
    """A Reporter and what it printed."""
    out = io.StringIO()
    return Reporter(out), out
