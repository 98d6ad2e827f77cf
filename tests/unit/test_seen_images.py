"""lmsops.core.seen_images through the real adapter (its calls answered by a scripted engine): inside
images_seen_once each reference is inspected once; a command that can change images forgets them."""

from __future__ import annotations

import contextvars
import json
import threading
from pathlib import Path

import pytest

from lmsops.core.docker import Docker
from lmsops.core.seen_images import _changes_images, images_seen_once
from tests.unit.adapter_fakes import ScriptedEngine, scripted_engine

IMAGE = "lmsops/catalog:0.1.0-abc"
DOCUMENT = {"Id": "sha256:1", "Config": {"Labels": {"org.opencontainers.image.revision": "abc"}}, "Size": 7}


@pytest.fixture()
def engine(monkeypatch: pytest.MonkeyPatch) -> ScriptedEngine:
    scripted = scripted_engine(monkeypatch)
    scripted.answer("image", "inspect", stdout=json.dumps(DOCUMENT))
    return scripted


def inspects(engine: ScriptedEngine) -> int:
    return sum(1 for verbs in engine.verbs if verbs[:2] == ["image", "inspect"])


def test_outside_a_scope_every_question_goes_to_the_engine(engine: ScriptedEngine) -> None:
    docker = Docker()
    docker.image_id(IMAGE), docker.image_labels(IMAGE), docker.image_size(IMAGE)
    assert inspects(engine) == 3


def test_inside_a_scope_each_reference_is_inspected_once_and_the_answers_are_the_same(engine: ScriptedEngine) -> None:
    docker = Docker()
    with images_seen_once():
        answers = [docker.image_inspect(IMAGE), Docker().image_inspect(IMAGE)]  # another instance, same engine
        assert docker.image_labels(IMAGE) == DOCUMENT["Config"]["Labels"]  # type: ignore[index]
        docker.image_inspect("lmsops/gateway:1")
    assert answers == [DOCUMENT, DOCUMENT]
    assert inspects(engine) == 2  # one per reference
    docker.image_inspect(IMAGE)
    assert inspects(engine) == 3, "the scope ended: asked again"


def test_a_caller_changing_its_answer_does_not_change_the_next_one(engine: ScriptedEngine) -> None:
    with images_seen_once():
        first = Docker().image_inspect(IMAGE)
        assert first is not None
        first["Id"] = "changed"
        assert Docker().image_inspect(IMAGE) == DOCUMENT


def test_another_engine_is_asked_for_itself(engine: ScriptedEngine) -> None:
    with images_seen_once():
        Docker().image_inspect(IMAGE)
        Docker(context="lms-cluster").image_inspect(IMAGE)
        Docker(host="tcp://10.0.0.2:2375").image_inspect(IMAGE)
    assert inspects(engine) == 3


@pytest.mark.parametrize(
    "change",
    [
        lambda docker, tmp: docker.tag(IMAGE, "lmsops/catalog:alias"),
        lambda docker, tmp: docker.remove_image(IMAGE),
        lambda docker, tmp: docker.pull(IMAGE),
        lambda docker, tmp: docker.run("image", "load", "--input", "x.tar"),
        lambda docker, tmp: docker.build(
            context=tmp, dockerfile=tmp / "Dockerfile", tags=[IMAGE], build_args={}, labels={}, iidfile=tmp / "iid"
        ),
    ],
    ids=["tag", "remove", "pull", "load", "build"],
)
def test_a_command_that_changes_images_forgets_what_was_seen(
    engine: ScriptedEngine, tmp_path: Path, change: object
) -> None:
    (tmp_path / "iid").write_text("sha256:2")
    docker = Docker()
    with images_seen_once():
        docker.image_inspect(IMAGE)
        change(docker, tmp_path)  # type: ignore[operator]
        docker.image_inspect(IMAGE)
    assert inspects(engine) == 2


def test_an_image_not_there_is_remembered_until_a_build(engine: ScriptedEngine, tmp_path: Path) -> None:
    engine.forget("image", "inspect")
    engine.answer("image", "inspect", returncode=1, stderr="Error: No such image: lmsops/new:1")
    engine.answer("image", "inspect", stdout=json.dumps(DOCUMENT))
    (tmp_path / "iid").write_text("sha256:1")
    docker = Docker()
    with images_seen_once():
        assert (docker.image_id("lmsops/new:1"), docker.image_id("lmsops/new:1")) == (None, None)
        docker.build(context=tmp_path, dockerfile=tmp_path / "D", tags=["lmsops/new:1"], build_args={}, labels={},
                     iidfile=tmp_path / "iid")  # fmt: skip
        assert docker.image_id("lmsops/new:1") == "sha256:1"
    assert inspects(engine) == 2


def test_a_thread_started_inside_the_scope_asks_the_engine(engine: ScriptedEngine) -> None:
    with images_seen_once():
        Docker().image_inspect(IMAGE)
        thread = threading.Thread(target=lambda: Docker().image_inspect(IMAGE))
        thread.start()
        thread.join()
    assert inspects(engine) == 2


@pytest.mark.parametrize(
    ("argv", "changes"),
    [
        (["image", "inspect", IMAGE], False),
        (["ps", "--all"], False),
        (["service", "update", "--image", IMAGE, "lms_catalog"], False),
        (["compose", "-p", "lms-dev", "up", "--detach", "--no-build", "--pull", "never"], False),
        (["build", "--tag", IMAGE, "."], True),
        (["--context", "lms-cluster", "tag", IMAGE, "x"], True),
        (["-H", "tcp://10.0.0.2:2375", "image", "rm", IMAGE], True),
        (["image", "prune", "--force"], True),
        (["push", "127.0.0.1:5000/lmsops/catalog:1"], True),
        (["import", "-", "debian:bookworm-slim"], True),
        (["compose", "-p", "lms-dev", "build"], True),
        (["compose", "-p", "lms-dev", "pull"], True),
        (["system", "prune", "--all", "--force"], True),
        (["system", "df"], False),
        (["buildx", "build", "."], True),
        ([], False),
    ],
)
def test_which_commands_change_images(argv: list[str], changes: bool) -> None:
    assert _changes_images(argv) is changes


def test_a_thread_in_a_copy_of_the_context_shares_what_was_seen(engine: ScriptedEngine) -> None:
    """How the parallel builds of lmsops.images.build run: their up-to-date checks use the deploy's memo."""
    with images_seen_once():
        Docker().image_inspect(IMAGE)
        thread = threading.Thread(target=contextvars.copy_context().run, args=(Docker().image_inspect, IMAGE))
        thread.start()
        thread.join()
    assert inspects(engine) == 1


def test_the_engines_version_and_defaults_are_asked_once_per_scope(engine: ScriptedEngine) -> None:
    engine.answer("version", "--format", "{{json .Server}}", stdout='{"ApiVersion": "1.41", "Version": "20.10.24"}')
    engine.answer("info", stdout="json-file runc 1\n")
    docker = Docker()
    with images_seen_once():
        versions = [docker.server_version(), docker.server_version()]
        defaults = [docker.engine_defaults(), docker.engine_defaults()]
    docker.server_version()
    assert versions == [{"ApiVersion": "1.41", "Version": "20.10.24"}] * 2
    assert defaults == [("json-file", "runc", "1")] * 2
    asked = [verbs[0] for verbs in engine.verbs]
    assert (asked.count("version"), asked.count("info")) == (2, 1)  # the last one outside the scope


def test_a_registry_digest_is_asked_once_until_a_push(
    engine: ScriptedEngine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr("tempfile.gettempdir", lambda: str(tmp_path))  # the push's machine lock: this test's own
    remote = "127.0.0.1:5000/lmsops/catalog:0.1.0-abc"
    digest = "sha256:" + "1" * 64
    engine.answer("manifest", "inspect", returncode=1, stderr="no such manifest: " + remote)
    engine.answer("manifest", "inspect", stdout=json.dumps({"Descriptor": {"digest": digest}}))
    engine.answer("push", stdout=f"0.1.0-abc: digest: {digest} size: 1362\n")
    docker = Docker()
    with images_seen_once():
        assert [docker.registry_digest(remote), docker.registry_digest(remote)] == [None, None]
        docker.push(remote)
        assert [docker.registry_digest(remote), docker.registry_digest(remote)] == [digest, digest]
    asked = [verbs[0] for verbs in engine.verbs]
    assert (asked.count("manifest"), asked.count("push")) == (2, 1)
