"""lmsops.core.engineapi (networks, contexts, containers by name, volumes, swarm nodes) through the Docker
adapter against a scripted engine: the argv of each verb, how answers are read, which failures are
tolerated (something already gone) and which are errors."""

from __future__ import annotations

import pytest

from lmsops.core.docker import Docker
from lmsops.core.errors import CommandError
from tests.unit.adapter_fakes import ScriptedEngine, scripted_engine


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> ScriptedEngine:
    return scripted_engine(monkeypatch)


def test_a_network_exists_when_the_engine_can_inspect_it(engine: ScriptedEngine) -> None:
    engine.answer("network", "inspect", returncode=0)
    engine.answer("network", "inspect", returncode=1, stderr="Error: No such network: lmsops-cluster")
    assert [Docker().network_exists("lmsops-cluster"), Docker().network_exists("lmsops-cluster")] == [True, False]
    assert engine.verbs == [["network", "inspect", "lmsops-cluster"]] * 2


def test_network_verbs_spell_their_arguments(engine: ScriptedEngine) -> None:
    docker = Docker(context="lmsops-cluster")
    docker.network_create("lmsops-cluster", {"org.lmsops.z": "1", "org.lmsops.cluster": "1"})
    docker.network_connect("lmsops-cluster", "lmsops-registry", alias="registry")
    docker.network_connect("net", "c")
    assert engine.argvs == [
        ["docker", "--context", "lmsops-cluster", "network", "create",
         "--label", "org.lmsops.cluster=1", "--label", "org.lmsops.z=1", "lmsops-cluster"],
        ["docker", "--context", "lmsops-cluster", "network", "connect", "--alias", "registry", "lmsops-cluster",
         "lmsops-registry"],
        ["docker", "--context", "lmsops-cluster", "network", "connect", "net", "c"],
    ]  # fmt: skip


def test_creating_a_network_that_exists_is_an_error(engine: ScriptedEngine) -> None:
    engine.answer("network", "create", returncode=1, stderr="network with name lmsops-cluster already exists")
    with pytest.raises(CommandError, match="already exists"):
        Docker().network_create("lmsops-cluster", {})


def test_disconnecting_and_removing_what_is_already_gone_is_not_an_error(engine: ScriptedEngine) -> None:
    engine.answer("network", returncode=1, stderr="Error: No such network: lmsops-cluster")
    Docker().network_disconnect("lmsops-cluster", "lmsops-registry")
    Docker().network_rm("lmsops-cluster")
    assert engine.verbs == [
        ["network", "disconnect", "--force", "lmsops-cluster", "lmsops-registry"],
        ["network", "rm", "lmsops-cluster"],
    ]


def test_context_create_replaces_a_context_of_that_name(engine: ScriptedEngine) -> None:
    engine.answer("context", "rm", returncode=1, stderr="context not found")  # none yet: fine
    Docker().context_create("lmsops-cluster", "lmsops test cluster", "unix:///tmp/node-1/docker.sock")
    Docker().context_rm("lmsops-cluster")
    assert engine.verbs == [
        ["context", "rm", "--force", "lmsops-cluster"],
        ["context", "create", "lmsops-cluster", "--description", "lmsops test cluster",
         "--docker", "host=unix:///tmp/node-1/docker.sock"],
        ["context", "rm", "--force", "lmsops-cluster"],
    ]  # fmt: skip


def test_a_context_that_cannot_be_created_is_an_error(engine: ScriptedEngine) -> None:
    engine.answer("context", "create", returncode=1, stderr="invalid endpoint")
    with pytest.raises(CommandError, match="invalid endpoint"):
        Docker().context_create("c", "d", "bogus://")


def test_container_names_are_sorted_all_or_running_only(engine: ScriptedEngine) -> None:
    engine.answer("ps", stdout="lmsops-node-2\nlmsops-node-1\n")
    assert Docker().container_names("org.lmsops.cluster") == ["lmsops-node-1", "lmsops-node-2"]
    Docker().container_names("org.lmsops.cluster=1", running_only=True)
    assert engine.verbs == [
        ["ps", "--all", "--filter", "label=org.lmsops.cluster", "--format", "{{.Names}}"],
        ["ps", "--filter", "label=org.lmsops.cluster=1", "--format", "{{.Names}}"],
    ]


def test_a_container_exists_when_the_engine_can_inspect_it(engine: ScriptedEngine) -> None:
    engine.answer("container", "inspect", returncode=1, stderr="No such container")
    assert Docker().container_exists("lmsops-registry") is False
    assert engine.verbs == [["container", "inspect", "lmsops-registry"]]


def test_remove_containers_removes_them_with_their_volumes_and_nothing_is_no_call(engine: ScriptedEngine) -> None:
    engine.answer("rm", returncode=1, stderr="No such container: lmsops-node-3")
    Docker().remove_containers([])
    Docker().remove_containers(["lmsops-node-1", "lmsops-node-3"])
    assert engine.verbs == [["rm", "--force", "--volumes", "lmsops-node-1", "lmsops-node-3"]]


def test_container_addresses_are_one_per_network(engine: ScriptedEngine) -> None:
    engine.answer("container", "inspect", stdout="172.20.0.2 10.0.1.5 \n")
    assert Docker().container_addresses("lmsops-node-1") == ["172.20.0.2", "10.0.1.5"]
    template = "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}"
    assert engine.verbs == [["container", "inspect", "--format", template, "lmsops-node-1"]]


def test_volume_create_returns_the_labels_of_the_volume_that_has_the_name(engine: ScriptedEngine) -> None:
    engine.answer("volume", "inspect", stdout='{"org.lmsops.deploy-lock": "first"}\n')
    assert Docker().volume_create("lms-dev_deploy_lock", {"org.lmsops.deploy-lock": "second"}) == {
        "org.lmsops.deploy-lock": "first"
    }
    assert engine.verbs == [
        ["volume", "create", "--label", "org.lmsops.deploy-lock=second", "lms-dev_deploy_lock"],
        ["volume", "inspect", "--format", "{{json .Labels}}", "lms-dev_deploy_lock"],
    ]


def test_volume_labels_are_none_without_the_volume_and_empty_without_labels(engine: ScriptedEngine) -> None:
    engine.answer("volume", "inspect", returncode=1, stderr="Error: No such volume: v")
    engine.answer("volume", "inspect", stdout="null\n")
    assert [Docker().volume_labels("v"), Docker().volume_labels("v")] == [None, {}]


def test_node_hostnames_and_addresses(engine: ScriptedEngine) -> None:
    engine.answer("node", "ls", stdout="abc123 lmsops-node-1\ndef456 lmsops-node-2\n\n")
    engine.answer("node", "inspect", stdout="172.20.0.3\n")
    docker = Docker()
    assert docker.node_hostnames() == {"abc123": "lmsops-node-1", "def456": "lmsops-node-2"}
    assert docker.node_address("def456") == "172.20.0.3"
    assert engine.verbs == [
        ["node", "ls", "--format", "{{.ID}} {{.Hostname}}"],
        ["node", "inspect", "--format", "{{.Status.Addr}}", "def456"],
    ]


def test_only_ready_nodes_are_listed_as_ready(engine: ScriptedEngine) -> None:
    engine.answer("node", "ls", stdout="abc123 Ready lmsops-node-1\ndef456 Down lmsops-node-2\n\n")
    assert Docker().ready_node_hostnames() == {"abc123": "lmsops-node-1"}
    assert engine.verbs == [["node", "ls", "--format", "{{.ID}} {{.Status}} {{.Hostname}}"]]


def test_kill_and_force_update_are_one_call_each(engine: ScriptedEngine) -> None:
    docker = Docker()
    docker.kill_container("c1")
    docker.service_force_update("lms-staging_postgres")
    assert engine.verbs == [["kill", "c1"], ["service", "update", "--force", "--quiet", "lms-staging_postgres"]]


def test_node_ls_on_an_engine_that_is_no_manager_is_an_error(engine: ScriptedEngine) -> None:
    engine.answer("node", "ls", returncode=1, stderr="Error response from daemon: This node is not a swarm manager.")
    with pytest.raises(CommandError, match="not a swarm manager"):
        Docker().node_hostnames()
