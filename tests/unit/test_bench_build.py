"""The build benchmarks (lmsops.bench.build): the Compose file built from lmsops's own plan, the
alternation of lmsops's build and its baseline round by round, the medians, the one-service change
written fresh each round and undone, and that whatever the bench made is removed. Builds and the
clock are fakes."""

from __future__ import annotations

import socket
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from lmsops.bench import build as bench_build
from lmsops.bench.build import (
    BENCH_REPOSITORY,
    CHANGE_FILE,
    ROUNDS,
    compose_build_file,
    free_port,
    no_op_against_compose,
    one_service_rebuild,
    service_change,
    slim_sizes,
    timed,
)
from lmsops.core import proc
from lmsops.core.errors import CommandError
from lmsops.core.paths import Repo
from lmsops.images.build import Built
from lmsops.images.plan import PlannedImage, plan_images
from lmsops.images.versions import load_versions
from tests.unit.cli_fakes import Clock, EngineDocker, add_services


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(bench_build, "time", fake)
    return fake


def planned(repo: Repo) -> dict[str, PlannedImage]:
    return {image.name: image for image in plan_images(repo, load_versions(repo))}


class TimedDocker(EngineDocker):
    """An engine whose `compose build` and `docker build` take the seconds given, in order, on the fake
    clock, and which notes what it was asked in `log` (shared with the fake lmsops build)."""

    def __init__(
        self, clock: Clock, log: list[str], seconds: Sequence[float], fail_at: int | None = None, change: Path = Path()
    ) -> None:
        super().__init__()
        self.clock, self.log, self.seconds, self.fail_at = clock, log, iter(seconds), fail_at
        self.change = change  # the file the bench changes; `docker build` notes its content
        self.plain_builds: list[dict[str, Any]] = []

    def _take(self, what: str) -> None:
        self.log.append(what)
        if self.fail_at is not None and len(self.log) == self.fail_at:
            raise CommandError(["docker", what], 1, "no space left on device")
        self.clock.advance(next(self.seconds))

    def compose(
        self, project: str, files: Sequence[Path], env_file: Path | None, *args: str, check: bool = True
    ) -> proc.Result:
        result = super().compose(project, files, env_file, *args, check=check)
        self._take("compose build")
        return result

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
        given = {"context": context, "dockerfile": dockerfile, "tags": list(tags), "build_args": dict(build_args)}
        self.plain_builds.append(given | {"labels": dict(labels), "iidfile": iidfile})
        self._take(f"docker build: {self.change.read_text().strip()}")
        return "sha256:plain"


def fake_lmsops_build(
    monkeypatch: pytest.MonkeyPatch, clock: Clock, log: list[str], seconds: Sequence[float], repo: Repo
) -> None:
    """lmsops's build, as the bench calls it: it notes the change it sees and 'builds' catalog anew."""
    durations = iter(seconds)

    def build(*args: object, **kwargs: object) -> list[Built]:
        assert kwargs == {"mode": "offline"}
        change = repo.services / "catalog" / "app" / CHANGE_FILE
        seen = change.read_text().strip() if change.exists() else "no change"
        log.append(f"lmsops build: {seen}")
        clock.advance(next(durations))
        round_ = sum(entry.startswith("lmsops build") for entry in log)
        return [
            Built("python", "lmsops/python:3.11-1-aaaaaaaaaaaa", "sha256:p", False, 0.0, 1),
            Built("catalog", f"lmsops/catalog:0.0.0-round{round_}", "sha256:c", True, 1.0, 1),
        ]

    monkeypatch.setattr(bench_build, "build", build)


# -- small parts -----------------------------------------------------------------------------


def test_timed_measures_the_action_on_the_clock_and_passes_its_arguments(clock: Clock) -> None:
    seen: list[tuple[str, ...]] = []

    def action(*args: str) -> None:
        seen.append(args)
        clock.advance(2.5)

    assert timed(action, "service", "update") == 2.5
    assert seen == [("service", "update")]


def test_a_free_port_is_a_loopback_port_nobody_listens_on() -> None:
    port = free_port()
    assert 1024 <= port <= 65535
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))  # free: it can be taken at once


def test_the_compose_file_builds_the_same_dockerfiles_contexts_and_arguments_as_lmsops(repo: Repo) -> None:
    add_services(repo.root)
    images = list(planned(repo).values())
    path = compose_build_file(images, repo.work / "bench" / "compose-build.yaml")
    services = yaml.safe_load(path.read_text())["services"]
    assert sorted(services) == sorted(image.name for image in images)
    for image in images:
        assert services[image.name] == {
            "image": f"{BENCH_REPOSITORY}/{image.name}:compose",
            "build": {"context": str(image.spec.context), "dockerfile": str(image.spec.dockerfile),
                      "args": image.build_args},
        }  # fmt: skip
    catalog = services["catalog"]["build"]
    assert catalog["args"]["PYTHON_IMAGE"] == planned(repo)["python"].reference  # FROM lmsops's immutable tag


def test_a_service_change_is_new_content_each_time_and_removed_after(repo: Repo) -> None:
    add_services(repo.root)
    path = repo.services / "catalog" / "app" / CHANGE_FILE
    with pytest.raises(RuntimeError), service_change(repo, "catalog") as change:
        change("round 0")
        first = path.read_text()
        change("round 1")
        assert path.read_text() != first and "round 1" in path.read_text()
        raise RuntimeError("the build failed")
    assert not path.exists()


def test_python_slim_absent_gives_no_sizes(repo: Repo) -> None:
    add_services(repo.root)
    assert slim_sizes(repo, EngineDocker()) is None


def test_python_slim_present_gives_each_python_services_size_beside_its(repo: Repo) -> None:
    add_services(repo.root)
    docker = EngineDocker()
    docker.add_image("python:3.11-slim")
    docker.images["python:3.11-slim"]["Size"] = 130_000_000
    docker.add_image(planned(repo)["catalog"].reference)
    sizes = slim_sizes(repo, docker)
    assert sizes is not None
    assert (sizes["catalog"], sizes["enrollment"]) == ((1_000_000, 130_000_000), (0, 130_000_000))
    assert "gateway" not in sizes


# -- a no-op build against docker compose build -------------------------------------------------


def test_no_op_build_alternates_with_a_warm_compose_build_and_takes_medians(
    repo: Repo, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    log: list[str] = []
    docker = TimedDocker(clock, log, [30.0, 1.0, 1.2, 0.9, 1.1, 1.3])  # the first warms the cache: not measured
    fake_lmsops_build(monkeypatch, clock, log, [0.5, 0.4, 0.6, 0.45, 0.55], repo)
    ours, compose = no_op_against_compose(repo, docker)
    assert log == ["compose build"] + ["lmsops build: no change", "compose build"] * ROUNDS
    assert (ours, compose) == pytest.approx((0.5, 1.1))
    file = repo.work / "bench" / "compose-build.yaml"
    assert docker.compose_calls == [(BENCH_REPOSITORY, [file], ("build", "--quiet"))] * (ROUNDS + 1)
    assert docker.removed == [f"{BENCH_REPOSITORY}/{name}:compose" for name in ("python", "python-build", "postgres")]


def test_the_compose_images_are_removed_when_compose_fails(
    repo: Repo, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    log: list[str] = []
    docker = TimedDocker(clock, log, [1.0] * 10, fail_at=3)  # the first measured compose build
    fake_lmsops_build(monkeypatch, clock, log, [0.5] * 5, repo)
    with pytest.raises(CommandError, match="no space left on device"):
        no_op_against_compose(repo, docker)
    assert len(docker.removed) == 3 and all(ref.endswith(":compose") for ref in docker.removed)


# -- a change to one service -----------------------------------------------------------------


@pytest.fixture
def rebuild(repo: Repo, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TimedDocker, list[str]]]:
    add_services(repo.root)
    log: list[str] = []
    fake_lmsops_build(monkeypatch, clock, log, [4.0, 5.0, 4.6, 6.0, 4.2], repo)
    change = repo.services / "catalog" / "app" / CHANGE_FILE
    yield TimedDocker(clock, log, [2.5, 2.7, 2.9, 2.6, 3.0], change=change), log


def test_a_change_is_rebuilt_by_lmsops_then_by_docker_build_each_round_with_new_content(
    repo: Repo, rebuild: tuple[TimedDocker, list[str]]
) -> None:
    docker, log = rebuild
    ours, plain = one_service_rebuild(repo, docker)
    expected: list[str] = []
    for round_ in range(ROUNDS):
        expected.append(f"lmsops build: # lmsops bench: a change to the source (round {round_}, lmsops)")
        expected.append(f"docker build: # lmsops bench: a change to the source (round {round_}, docker build)")
    assert log == expected
    assert (ours, plain) == pytest.approx((4.6, 2.7))


def test_plain_docker_build_builds_the_same_dockerfile_and_arguments_under_its_own_tag(
    repo: Repo, rebuild: tuple[TimedDocker, list[str]]
) -> None:
    docker, _ = rebuild
    one_service_rebuild(repo, docker)
    catalog = planned(repo)["catalog"]
    assert docker.plain_builds[0] == {
        "context": catalog.spec.context, "dockerfile": catalog.spec.dockerfile,
        "tags": [f"{BENCH_REPOSITORY}/catalog:plain"], "build_args": catalog.build_args, "labels": {},
        "iidfile": repo.work / "bench" / "plain.iid",
    }  # fmt: skip
    assert len(docker.plain_builds) == ROUNDS


def test_the_rebuild_removes_its_change_and_every_image_it_made(
    repo: Repo, rebuild: tuple[TimedDocker, list[str]]
) -> None:
    docker, _ = rebuild
    one_service_rebuild(repo, docker)
    made = {f"lmsops/catalog:0.0.0-round{n}" for n in range(1, ROUNDS + 1)}
    assert sorted(docker.removed) == sorted({*made, f"{BENCH_REPOSITORY}/catalog:plain"})  # python was not built
    assert not (repo.services / "catalog" / "app" / CHANGE_FILE).exists()


def test_a_failed_plain_build_still_removes_what_was_made(
    repo: Repo, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_services(repo.root)
    log: list[str] = []
    fake_lmsops_build(monkeypatch, clock, log, [4.0] * 5, repo)
    change = repo.services / "catalog" / "app" / CHANGE_FILE
    docker = TimedDocker(clock, log, [2.0] * 5, fail_at=4, change=change)  # the second docker build
    with pytest.raises(CommandError):
        one_service_rebuild(repo, docker)
    assert sorted(docker.removed) == [f"{BENCH_REPOSITORY}/catalog:plain", "lmsops/catalog:0.0.0-round1",
                                      "lmsops/catalog:0.0.0-round2"]  # fmt: skip
    assert not (repo.services / "catalog" / "app" / CHANGE_FILE).exists()
