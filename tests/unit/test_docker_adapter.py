"""lmsops.core.docker.Docker against a scripted engine: the argv each verb runs (lists, never a
shell; the target's context and DOCKER_HOST on every call), how it reads the engine's answers
(recorded ones from tests/unit/data/drift where they exist), and every failure as one clear error."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from lmsops.core import docker as docker_module
from lmsops.core.docker import PUSH_ATTEMPTS, Docker, EngineInfo
from lmsops.core.errors import CommandError, PrerequisiteError
from tests.unit.adapter_fakes import Answer, ScriptedEngine, fake_clock, scripted_engine

DRIFT = json.loads((Path(__file__).parent / "data" / "drift" / "compose.json").read_text())
POSTGRES = DRIFT["running"]["lms-dev-postgres-1"]  # `docker container inspect` of a healthy container
POSTGRES_IMAGE = "lmsops/postgres:15-1-11498090b9b9"
DIGEST = "sha256:" + "ab" * 32


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> ScriptedEngine:
    return scripted_engine(monkeypatch)


# -- plumbing: where the calls go ---------------------------------------------------------------------


def test_every_call_is_an_argv_list_of_the_binary_with_the_context_first(engine: ScriptedEngine) -> None:
    """A target's `context:` is the first argument of every call; without one the engine is the default."""
    Docker("/usr/bin/docker", context="lmsops-cluster").pull("lmsops/catalog:1")
    Docker().tag("a:1", "b:1")
    assert engine.argvs == [
        ["/usr/bin/docker", "--context", "lmsops-cluster", "pull", "--quiet", "lmsops/catalog:1"],
        ["docker", "tag", "a:1", "b:1"],
    ]
    assert [call.env for call in engine.calls] == [None, None], "no host: the inherited environment as it is"


def test_a_host_reaches_every_call_as_docker_host_on_top_of_the_inherited_environment(
    engine: ScriptedEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LMSOPS_INHERITED", "kept")
    docker = Docker().for_target(None, "ssh://deploy@manager")
    engine.answer("compose", "version", stdout="v2.40.3")
    docker.pull("x:1")
    docker.compose("p", [], None, "ps")
    docker.require_compose()
    env = [call.env or {} for call in engine.calls]
    assert [e.get("DOCKER_HOST") for e in env] == ["ssh://deploy@manager"] * 3
    assert all(e.get("LMSOPS_INHERITED") == "kept" for e in env)


def test_for_target_keeps_the_binary_and_aims_at_the_new_engine_only() -> None:
    base = Docker("/opt/docker", context="old")
    aimed = base.for_target("lmsops-cluster", None)
    assert (aimed.binary, aimed.context, aimed.env) == ("/opt/docker", "lmsops-cluster", None)
    assert (base.context, Docker().for_target(None, "tcp://h:2375").env) == ("old", {"DOCKER_HOST": "tcp://h:2375"})


def test_a_failing_verb_is_one_command_error_with_the_engines_words(engine: ScriptedEngine) -> None:
    """What the user reads: the exit code, the command as run and what docker said, indented."""
    engine.answer("pull", returncode=1, stderr="Error response from daemon: manifest unknown\n")
    with pytest.raises(CommandError) as failed:
        Docker().pull("lmsops/catalog:404")
    assert str(failed.value) == (
        "command failed (exit 1): docker pull --quiet lmsops/catalog:404\n"
        "    Error response from daemon: manifest unknown"
    )


# -- prerequisites ------------------------------------------------------------------------------------


def test_require_engine_returns_the_server_version_asking_with_a_timeout(engine: ScriptedEngine) -> None:
    engine.answer("version", stdout="20.10.24+dfsg1\n")
    assert Docker().require_engine() == "20.10.24+dfsg1"
    assert engine.verbs == [["version", "--format", "{{.Server.Version}}"]]
    assert engine.calls[0].timeout == 30


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ({"returncode": 1, "stderr": "\nCannot connect to the Docker daemon at unix:///var/run/docker.sock.\nmore"},
         "the Docker engine is not reachable (Cannot connect to the Docker daemon at unix:///var/run/docker.sock.)"),
        ({"returncode": 0, "stdout": "  \n"}, "the Docker engine is not reachable (no answer)"),
        ({"stdout": "19.03.15\n"}, "Docker engine 19.03.15 is too old: lmsops needs 20.10 or newer"),
        ({"stdout": "unknown\n"}, "Docker engine unknown is too old"),
        ({"raises": FileNotFoundError("docker")}, "the docker CLI was not found on PATH"),
        ({"raises": subprocess.TimeoutExpired(["docker"], 30)}, "the Docker engine did not answer in time"),
    ],
)  # fmt: skip
def test_an_engine_that_cannot_serve_is_one_prerequisite_error_with_the_install_hint(
    engine: ScriptedEngine, answer: dict[str, Any], message: str
) -> None:
    engine.answer("version", **answer)
    with pytest.raises(PrerequisiteError) as failed:
        Docker().require_engine()
    assert str(failed.value).startswith(message)
    assert str(failed.value).endswith(docker_module.INSTALL_ENGINE_HINT)


def test_require_engine_asks_the_engine_of_the_targets_host(engine: ScriptedEngine) -> None:
    """prepare() of a target with `host:` checks that its engine answers; it must ask that engine.

    (require_engine() used to ask the local engine: it ran without the adapter's DOCKER_HOST.)"""
    engine.answer("version", stdout="24.0.7\n")
    Docker().for_target(None, "ssh://deploy@manager").require_engine()
    assert (engine.calls[0].env or {}).get("DOCKER_HOST") == "ssh://deploy@manager"


def test_require_compose_accepts_v2_with_or_without_its_v(engine: ScriptedEngine) -> None:
    engine.answer("compose", "version", stdout="v2.40.3\n")
    assert Docker().require_compose() == "2.40.3"
    assert engine.verbs[0] == ["compose", "version", "--short"]


def test_require_compose_accepts_a_version_without_its_v(engine: ScriptedEngine) -> None:
    engine.answer("compose", "version", stdout="2.27.1-desktop.1\n")
    assert Docker().require_compose() == "2.27.1-desktop.1"


def test_compose_found_once_is_not_asked_again_in_the_process(
    engine: ScriptedEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine.answer("compose", "version", stdout="v2.40.3\n")
    engine.answer("compose", "version", stdout="v2.41.0\n")
    assert [Docker().require_compose(), Docker().require_compose()] == ["2.40.3", "2.40.3"]
    assert engine.verbs == [["compose", "version", "--short"]]
    monkeypatch.setenv("DOCKER_CONFIG", "/elsewhere")  # another plugin folder: asked again
    assert Docker().require_compose() == "2.41.0"
    assert len(engine.verbs) == 2


def test_a_missing_compose_is_asked_again(engine: ScriptedEngine) -> None:
    engine.answer("compose", "version", returncode=1, stderr="docker: 'compose' is not a docker command.")
    engine.answer("compose", "version", stdout="v2.40.3\n")
    with pytest.raises(PrerequisiteError, match="Compose v2 is not available"):
        Docker().require_compose()
    assert Docker().require_compose() == "2.40.3"  # installed meanwhile


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ({"stdout": "1.29.2\n"}, "Docker Compose 1.29.2 is v1; lmsops needs v2."),
        ({"returncode": 1, "stderr": "'compose' is not a docker command."}, "Docker Compose v2 is not available."),
        ({"stdout": ""}, "Docker Compose v2 is not available."),
    ],
)  # fmt: skip
def test_a_missing_or_v1_compose_is_one_prerequisite_error_with_the_install_hint(
    engine: ScriptedEngine, answer: dict[str, Any], message: str
) -> None:
    engine.answer("compose", "version", **answer)
    with pytest.raises(PrerequisiteError) as failed:
        Docker().require_compose()
    assert str(failed.value) == f"{message} {docker_module.INSTALL_COMPOSE_HINT}"


def test_require_checks_the_engine_then_compose(engine: ScriptedEngine) -> None:
    engine.answer("version", stdout="24.0.7\n")
    engine.answer("compose", "version", stdout="v2.40.3\n")
    assert Docker().require() == EngineInfo("24.0.7", "2.40.3")
    assert [verb[:2] for verb in engine.verbs] == [["version", "--format"], ["compose", "version"]]


def test_server_version_is_the_engines_version_document(engine: ScriptedEngine) -> None:
    engine.answer("version", stdout='{"Version": "24.0.7", "ApiVersion": "1.43", "Os": "linux"}\n')
    engine.answer("version", stdout="null\n")
    assert Docker().server_version() == {"Version": "24.0.7", "ApiVersion": "1.43", "Os": "linux"}
    assert Docker().server_version() == {}, "anything but an object reads as no document"
    assert engine.verbs[0] == ["version", "--format", "{{json .Server}}"]


def test_engine_defaults_are_logging_driver_runtime_and_cgroup_version(engine: ScriptedEngine) -> None:
    recorded = DRIFT["engine"]
    engine.answer("info", stdout=f"{recorded['logging_driver']} {recorded['runtime']} {recorded['cgroup_version']}\n")
    engine.answer("info", stdout="json-file\n")
    assert Docker().engine_defaults() == (recorded["logging_driver"], recorded["runtime"], recorded["cgroup_version"])
    assert Docker().engine_defaults() == ("json-file", "", ""), "an engine that says less leaves the rest empty"
    assert engine.verbs[0] == ["info", "--format", "{{.LoggingDriver}} {{.DefaultRuntime}} {{.CgroupVersion}}"]


# -- images -------------------------------------------------------------------------------------------


def test_image_facts_come_from_one_inspect_document(engine: ScriptedEngine) -> None:
    document = {**DRIFT["images"][POSTGRES_IMAGE], "Size": 123_456_789}
    engine.answer("image", "inspect", stdout=json.dumps(document) + "\n")
    docker = Docker()
    assert docker.image_inspect(POSTGRES_IMAGE) == document
    assert docker.image_id(POSTGRES_IMAGE) == document["Id"]
    assert docker.image_labels(POSTGRES_IMAGE) == document["Config"]["Labels"]
    assert docker.image_size(POSTGRES_IMAGE) == 123_456_789
    assert engine.verbs == [["image", "inspect", "--format", "{{json .}}", POSTGRES_IMAGE]] * 4


@pytest.mark.parametrize("words", ["Error: No such image: lmsops/x:1", "Error response from daemon: no such image"])
def test_an_image_the_engine_does_not_have_is_none_not_an_error(engine: ScriptedEngine, words: str) -> None:
    engine.answer("image", "inspect", returncode=1, stderr=words)
    docker = Docker()
    assert (docker.image_inspect("lmsops/x:1"), docker.image_id("lmsops/x:1")) == (None, None)
    assert (docker.image_labels("lmsops/x:1"), docker.image_size("lmsops/x:1")) == ({}, 0)


def test_an_image_without_labels_has_no_labels(engine: ScriptedEngine) -> None:
    engine.answer("image", "inspect", stdout='{"Id": "sha256:1", "Config": {"Labels": null}}')
    engine.answer("image", "inspect", stdout='{"Id": "sha256:1", "Config": null}')
    assert [Docker().image_labels("x"), Docker().image_labels("x")] == [{}, {}]


def test_any_other_inspect_failure_is_a_command_error(engine: ScriptedEngine) -> None:
    engine.answer("image", "inspect", returncode=1, stderr="permission denied while trying to connect")
    with pytest.raises(CommandError, match="permission denied"):
        Docker().image_inspect("lmsops/x:1")


def test_image_tags_leave_untagged_images_out_and_filter_by_pattern(engine: ScriptedEngine) -> None:
    engine.answer("image", "ls", stdout="lmsops/catalog:2\nlmsops/catalog:<none>\nlmsops/gateway:1\n")
    assert Docker().image_tags("lmsops/*") == ["lmsops/catalog:2", "lmsops/gateway:1"]
    Docker().image_tags()
    assert engine.verbs == [
        ["image", "ls", "--format", "{{.Repository}}:{{.Tag}}", "lmsops/*"],
        ["image", "ls", "--format", "{{.Repository}}:{{.Tag}}"],
    ]


def test_removing_an_image_is_forced_and_one_already_gone_is_not_an_error(engine: ScriptedEngine) -> None:
    engine.answer("image", "rm", returncode=1, stderr="No such image")
    Docker().remove_image("lmsops/x:1")
    assert engine.verbs == [["image", "rm", "--force", "lmsops/x:1"]]


def test_import_rootfs_pipes_tar_into_docker_import_and_returns_the_new_image(
    engine: ScriptedEngine, tmp_path: Path
) -> None:
    engine.answer("image", "inspect", stdout='{"Id": "sha256:os"}')
    image = Docker(context="c").import_rootfs(tmp_path, "debian:bookworm-slim", ["ENV LANG=C.UTF-8", "CMD bash"])
    assert image == "sha256:os"
    producer, consumer, inspect = engine.calls
    assert producer.argv == ["tar", "--numeric-owner", "-C", str(tmp_path), "-c", "."]
    assert consumer.argv == [
        "docker", "--context", "c", "import", "--change=ENV LANG=C.UTF-8", "--change=CMD bash", "-",
        "debian:bookworm-slim",
    ]  # fmt: skip
    assert consumer.stdin is not None, "the consumer reads the producer's output"
    assert inspect.args[:2] == ["image", "inspect"]


def test_an_import_that_left_no_image_is_a_command_error(engine: ScriptedEngine, tmp_path: Path) -> None:
    """bootstrap relies on getting an image id back; an import that succeeded without one is an error."""
    engine.answer("image", "inspect", returncode=1, stderr="No such image")
    with pytest.raises(CommandError, match="docker import did not produce debian:bookworm-slim"):
        Docker().import_rootfs(tmp_path, "debian:bookworm-slim", [])


def test_build_streams_its_output_and_returns_the_id_of_the_iidfile(engine: ScriptedEngine, tmp_path: Path) -> None:
    iidfile = tmp_path / "iid"
    iidfile.write_text("sha256:built\n")
    engine.answer("build", stdout="Step 1/2 : FROM x\nSuccessfully built 1234\n")
    lines: list[str] = []
    image = Docker().build(
        context=tmp_path / "ctx",
        dockerfile=tmp_path / "ctx" / "Dockerfile",
        tags=["lmsops/catalog:1", "lmsops/catalog:latest"],
        build_args={"Z_ARG": "z", "A_ARG": "a"},
        labels={"org.b": "2", "org.a": "1"},
        iidfile=iidfile,
        target="runtime",
        on_line=lines.append,
    )
    assert image == "sha256:built"
    assert lines == ["Step 1/2 : FROM x", "Successfully built 1234"]
    assert engine.argvs == [
        ["docker", "build", "--force-rm", "--file", str(tmp_path / "ctx" / "Dockerfile"), "--iidfile", str(iidfile),
         "--tag", "lmsops/catalog:1", "--tag", "lmsops/catalog:latest",
         "--build-arg", "A_ARG=a", "--build-arg", "Z_ARG=z", "--label", "org.a=1", "--label", "org.b=2",
         "--target", "runtime", str(tmp_path / "ctx")],
    ]  # fmt: skip


def test_a_failed_build_is_a_command_error_with_its_output(engine: ScriptedEngine, tmp_path: Path) -> None:
    engine.answer("build", stdout="E: Unable to locate package nope\n", returncode=100)
    with pytest.raises(CommandError, match="Unable to locate package nope") as failed:
        Docker().build(
            context=tmp_path, dockerfile=tmp_path / "Dockerfile", tags=["x:1"], build_args={}, labels={},
            iidfile=tmp_path / "iid",
        )  # fmt: skip
    assert failed.value.returncode == 100
    assert "--target" not in engine.argvs[0]


# -- compose ------------------------------------------------------------------------------------------


def test_compose_names_the_project_env_file_and_every_file_in_order(engine: ScriptedEngine, tmp_path: Path) -> None:
    files = [tmp_path / "compose.yaml", tmp_path / "stacks" / "dev.yaml"]
    docker = Docker(context="ctx")
    docker.compose("lms-dev", files, tmp_path / "compose.env", "up", "--wait")
    docker.compose("lms-dev", files[:1], None, "ps", check=False)
    assert engine.argvs == [
        ["docker", "--context", "ctx", "compose", "--project-name", "lms-dev",
         "--env-file", str(tmp_path / "compose.env"), "--file", str(files[0]), "--file", str(files[1]), "up", "--wait"],
        ["docker", "--context", "ctx", "compose", "--project-name", "lms-dev", "--file", str(files[0]), "ps"],
    ]  # fmt: skip


# -- containers ---------------------------------------------------------------------------------------


def test_run_detached_spells_every_option_and_never_pulls(engine: ScriptedEngine, tmp_path: Path) -> None:
    """Labels and env sorted (the argv is stable), binds read-only, `--pull never` before the image."""
    engine.answer("run", stdout="c0ffee\n")
    container = Docker().run_detached(
        "lmsops/swarm-node:1",
        name="lmsops-node-1",
        labels={"org.lmsops.z": "1", "org.lmsops.a": "2"},
        env={"LMS_FORWARD": "5000=registry:5000"},
        binds=[(tmp_path, "/src")],
        args=["--debug"],
        ports=["127.0.0.1:5000:5000"],
        volumes=["data:/var/lib/docker"],
        restart="unless-stopped",
        hostname="node-1",
        network="lmsops-cluster",
        cap_add=["SYS_ADMIN", "NET_ADMIN"],
        security_opt=["seccomp=unconfined"],
        tmpfs=["/run"],
    )
    assert container == "c0ffee"
    assert engine.verbs == [
        ["run", "--detach", "--name", "lmsops-node-1", "--hostname", "node-1", "--network", "lmsops-cluster",
         "--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN", "--security-opt", "seccomp=unconfined",
         "--tmpfs", "/run", "--publish", "127.0.0.1:5000:5000", "--volume", "data:/var/lib/docker",
         "--restart", "unless-stopped", "--label", "org.lmsops.a=2", "--label", "org.lmsops.z=1",
         "--env", "LMS_FORWARD=5000=registry:5000", "--volume", f"{tmp_path}:/src:ro",
         "--pull", "never", "lmsops/swarm-node:1", "--debug"],
    ]  # fmt: skip


def test_run_detached_with_nothing_but_a_name(engine: ScriptedEngine) -> None:
    Docker().run_detached("img:1", name="c", labels={})
    assert engine.verbs == [["run", "--detach", "--name", "c", "--pull", "never", "img:1"]]


def test_push_returns_the_digest_the_registry_reported(engine: ScriptedEngine) -> None:
    engine.answer("push", stdout=f"abc: Pushed\n1: digest: {DIGEST} size: 1786\n")
    assert Docker().push("127.0.0.1:5000/lmsops/catalog:1") == DIGEST
    assert engine.verbs == [["push", "127.0.0.1:5000/lmsops/catalog:1"]]


def test_a_push_that_raced_another_push_of_the_same_layers_is_tried_again(engine: ScriptedEngine) -> None:
    race = "90779d83cad7: Pushed\nerrors:\ndigest invalid\nmanifest blob unknown: blob unknown to registry\n"
    engine.answer("push", stderr=race, returncode=1)
    engine.answer("push", stdout=f"90779d83cad7: Layer already exists\n1: digest: {DIGEST} size: 1786\n")
    assert Docker().push("127.0.0.1:5000/lmsops/catalog:1") == DIGEST
    assert engine.verbs == [["push", "127.0.0.1:5000/lmsops/catalog:1"]] * 2


def test_a_push_refused_for_another_reason_or_racing_every_time_fails(engine: ScriptedEngine) -> None:
    engine.answer("push", stderr="denied: requested access to the resource is denied\n", returncode=1)
    with pytest.raises(CommandError, match="denied"):
        Docker().push("ghcr.io/lms/lmsops/catalog:1")
    assert len(engine.verbs) == 1
    engine.forget("push")
    for _ in range(PUSH_ATTEMPTS):
        engine.answer("push", stderr="manifest blob unknown: blob unknown to registry\n", returncode=1)
    with pytest.raises(CommandError, match="blob unknown"):
        Docker().push("127.0.0.1:5000/lmsops/catalog:1")
    assert len(engine.verbs) == 1 + PUSH_ATTEMPTS


def test_a_push_holds_the_machines_lock_of_its_registry_whatever_the_checkout(
    engine: ScriptedEngine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The lock is the machine's (its temporary directory), not a checkout's .lmsops/: every clone (tests,
    resilience) meets the same one, and it is held while docker pushes."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    monkeypatch.chdir(tmp_path)  # a checkout elsewhere: nothing of the lock depends on it
    lock = tmp_path / "tmp" / f"lmsops-{os.getuid()}" / "locks" / "push-127.0.0.1_5000.lock"
    held: list[bool] = []

    def push(_call: object) -> Answer:
        with lock.open("a") as other:  # another process's attempt: refused while the push holds it
            try:
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
                held.append(False)
            except BlockingIOError:
                held.append(True)
        return Answer(stdout=f"1: digest: {DIGEST} size: 1786\n")

    engine.on("push", handler=push)
    Docker().push("127.0.0.1:5000/lmsops/catalog:1")
    assert held == [True]
    with lock.open("a") as after:
        fcntl.flock(after, fcntl.LOCK_EX | fcntl.LOCK_NB)  # and released after it (raises if not)


def test_the_registry_is_asked_for_a_tags_digest_over_plain_http_on_loopback_only(engine: ScriptedEngine) -> None:
    """`docker manifest inspect` (docker login's credentials); --insecure only for lmsops's loopback registry."""
    manifest = {"Ref": "r", "Descriptor": {"digest": DIGEST, "size": 1362}}
    engine.answer("manifest", "inspect", stdout=json.dumps(manifest))
    assert Docker().registry_digest("127.0.0.1:5000/lmsops/catalog:1") == DIGEST
    assert Docker().registry_digest("ghcr.io/lms/lmsops/catalog:1") == DIGEST
    assert engine.verbs == [
        ["manifest", "inspect", "--insecure", "--verbose", "127.0.0.1:5000/lmsops/catalog:1"],
        ["manifest", "inspect", "--verbose", "ghcr.io/lms/lmsops/catalog:1"],
    ]


def test_a_tag_the_registry_lacks_is_none_and_an_unreachable_registry_is_an_error(engine: ScriptedEngine) -> None:
    """ "Not there" builds and pushes; a registry that does not answer must never be taken for that."""
    engine.answer("manifest", "inspect", stderr="no such manifest: 127.0.0.1:5000/lmsops/catalog:1\n", returncode=1)
    refused = 'failed to configure transport: error pinging v2 registry: Get "https://127.0.0.1:5999/v2/": refused'
    engine.answer("manifest", "inspect", stderr=refused, returncode=1)
    assert Docker().registry_digest("127.0.0.1:5000/lmsops/catalog:1") is None
    with pytest.raises(CommandError, match=r"is the registry 127\.0\.0\.1:5999 reachable"):
        Docker().registry_digest("127.0.0.1:5999/lmsops/catalog:1")


def test_a_multi_platform_index_is_refused(engine: ScriptedEngine) -> None:
    engine.answer("manifest", "inspect", stdout=json.dumps([{"Descriptor": {"digest": DIGEST}}]))
    with pytest.raises(CommandError, match="multi-platform index"):
        Docker().registry_digest("ghcr.io/lms/lmsops/catalog:1")


def test_a_push_without_a_digest_is_a_command_error_showing_the_output(engine: ScriptedEngine) -> None:
    engine.answer("push", stdout="abc: Layer already exists\n")
    with pytest.raises(CommandError) as failed:
        Docker().push("r/x:1")
    assert failed.value.output == "no digest in the output of docker push:\nabc: Layer already exists\n"


def test_run_once_removes_the_container_and_returns_the_result_unchecked(engine: ScriptedEngine) -> None:
    engine.answer("run", returncode=3, stdout="migrations failed")
    result = Docker().run_once(
        "lmsops/catalog:1", env={"B": "2", "A": "1"}, args=["migrate"], entrypoint="python", network="lms-dev_default",
        input_bytes=b"stdin data",
    )  # fmt: skip
    assert (result.returncode, result.stdout) == (3, "migrations failed")
    assert engine.verbs == [
        ["run", "--rm", "--pull", "never", "--interactive", "--env", "A=1", "--env", "B=2", "--entrypoint", "python",
         "--network", "lms-dev_default", "lmsops/catalog:1", "migrate"],
    ]  # fmt: skip
    assert engine.calls[0].input == b"stdin data"
    Docker().run_once("img:1")
    assert engine.verbs[1] == ["run", "--rm", "--pull", "never", "img:1"], "no stdin: not interactive"


def test_container_lifecycle_verbs(engine: ScriptedEngine) -> None:
    engine.answer("rm", returncode=1, stderr="No such container: gone")
    docker = Docker()
    docker.stop_container("c", 10)
    docker.restart_container("c")
    docker.remove_container("gone")
    assert engine.verbs == [["stop", "--time", "10", "c"], ["restart", "c"], ["rm", "--force", "--volumes", "gone"]]


def test_container_inspect_is_the_engines_document_and_anything_else_an_error(engine: ScriptedEngine) -> None:
    engine.answer("container", "inspect", stdout=json.dumps(POSTGRES))
    engine.answer("container", "inspect", stdout="[]")
    assert Docker().container_inspect("lms-dev-postgres-1") == POSTGRES
    with pytest.raises(CommandError, match="unexpected inspect output"):
        Docker().container_inspect("lms-dev-postgres-1")
    assert engine.verbs[0] == ["container", "inspect", "--format", "{{json .}}", "lms-dev-postgres-1"]


def test_logs_are_stdout_and_stderr_of_the_container_optionally_the_tail(engine: ScriptedEngine) -> None:
    engine.answer("logs", stdout="ready\n", stderr="warning\n")
    engine.answer("logs", returncode=1, stderr="No such container: c")
    assert Docker().logs("c", tail=5) == "ready\nwarning"
    assert Docker().logs("c", check=False) == "No such container: c", "check=False: what docker said instead"
    assert engine.verbs == [["logs", "--tail", "5", "c"], ["logs", "c"]]


def test_wait_for_log_polls_until_the_text_appears(engine: ScriptedEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = fake_clock(monkeypatch, docker_module)
    engine.answer("logs", stdout="starting")
    engine.answer("logs", stdout="starting\nlistening on :5000")
    Docker().wait_for_log("lmsops-registry", "listening on", timeout=10)
    assert (len(engine.calls), clock.sleeps) == (2, [0.2])


def test_wait_for_log_gives_up_after_the_timeout_showing_the_logs(
    engine: ScriptedEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = fake_clock(monkeypatch, docker_module)
    engine.answer("logs", stdout="crash loop")
    with pytest.raises(CommandError) as failed:
        Docker().wait_for_log("c", "listening", timeout=1)
    assert failed.value.output == "'listening' not seen within 1 s:\ncrash loop"
    assert 1 <= sum(clock.sleeps) <= 1.4


def test_health_is_the_healthcheck_status_else_the_container_state(engine: ScriptedEngine) -> None:
    no_check = {**POSTGRES, "State": {k: v for k, v in POSTGRES["State"].items() if k != "Health"}}
    for document in (POSTGRES, no_check, {"Id": "x", "State": None}, {"Id": "x", "State": {}}):
        engine.answer("container", "inspect", stdout=json.dumps(document))
    docker = Docker()
    assert [docker.health("c") for _ in range(4)] == ["healthy", "running", "unknown", "unknown"]


def health_answer(status: str) -> str:
    return json.dumps({"State": {"Status": "running", "Health": {"Status": status}}})


def test_wait_healthy_polls_while_starting(engine: ScriptedEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = fake_clock(monkeypatch, docker_module)
    for status in ("starting", "starting", "healthy"):
        engine.answer("container", "inspect", stdout=health_answer(status))
    Docker().wait_healthy("c", timeout=30)
    assert clock.sleeps == [0.5, 0.5]


@pytest.mark.parametrize("status", ["unhealthy", "exited", "dead"])
def test_wait_healthy_fails_at_once_on_a_container_that_will_not_get_healthy_with_its_logs(
    engine: ScriptedEngine, monkeypatch: pytest.MonkeyPatch, status: str
) -> None:
    clock = fake_clock(monkeypatch, docker_module)
    document = {"State": {"Status": status}} if status != "unhealthy" else json.loads(health_answer(status))
    engine.answer("container", "inspect", stdout=json.dumps(document))
    engine.answer("logs", stdout="FATAL: password authentication failed")
    with pytest.raises(CommandError) as failed:
        Docker().wait_healthy("c", timeout=30)
    assert failed.value.output == f"container c is {status}, not healthy:\nFATAL: password authentication failed"
    assert clock.sleeps == []


def test_wait_healthy_gives_up_after_the_timeout(engine: ScriptedEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    """A container stuck in `starting` fails after the timeout, polling every 0.5 s (fake clock)."""
    clock = fake_clock(monkeypatch, docker_module)
    engine.answer("container", "inspect", stdout=health_answer("starting"))
    with pytest.raises(CommandError, match="container c is starting, not healthy"):
        Docker().wait_healthy("c", timeout=2)
    assert 2 <= sum(clock.sleeps) <= 2.5


def test_exec_runs_inside_the_container_optionally_as_a_user_unchecked(engine: ScriptedEngine) -> None:
    engine.answer("exec", returncode=1, stdout="nope")
    assert Docker().exec("c", "pg_isready", "-q", user="postgres").returncode == 1
    Docker().exec("c", "true")
    assert engine.verbs == [["exec", "--user", "postgres", "c", "pg_isready", "-q"], ["exec", "c", "true"]]


def test_inspect_containers_inspects_every_container_with_the_label(engine: ScriptedEngine) -> None:
    engine.answer("ps", stdout="aaa\nbbb\n")
    engine.answer("container", "inspect", stdout=json.dumps([POSTGRES, "not a document"]))
    assert Docker().inspect_containers("com.docker.compose.project=lms-dev") == [POSTGRES]
    assert engine.verbs == [
        ["ps", "--all", "--quiet", "--filter", "label=com.docker.compose.project=lms-dev"],
        ["container", "inspect", "aaa", "bbb"],
    ]


def test_no_container_with_the_label_is_no_inspect(engine: ScriptedEngine) -> None:
    assert Docker().inspect_containers("x=y") == []
    assert len(engine.calls) == 1


def test_network_names_maps_ids_to_names(engine: ScriptedEngine) -> None:
    engine.answer("network", "inspect", stdout="n1 lms-dev_default\nn2 lms staging net\n\n")
    assert Docker().network_names(["n1", "n2"]) == {"n1": "lms-dev_default", "n2": "lms staging net"}
    assert Docker().network_names([]) == {}
    assert engine.verbs == [["network", "inspect", "--format", "{{.Id}} {{.Name}}", "n1", "n2"]]
