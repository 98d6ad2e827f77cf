"""The Swarm verbs of the Docker adapter (lmsops.core.swarmapi): the docker argv each one runs, and what
it makes of the answer (inspect documents, names, the swarm state, a config that exists already).
The inspect answers are those recorded from a real engine (tests/unit/data/convergence/swarm.json)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from lmsops.core import proc
from lmsops.core.docker import Docker
from lmsops.core.errors import CommandError
from lmsops.core.swarmapi import STACK_LABEL, running_task
from tests.unit.target_fakes import SWARM

Argv = tuple[str, ...]


class Scripted(Docker):
    """Docker.run answered from a script (argv -> returncode, stdout, stderr), with proc.run's check."""

    def __init__(self, answers: dict[Argv, tuple[int, str, str]] | None = None) -> None:
        super().__init__("docker")
        self.answers = answers or {}
        self.ran: list[tuple[Argv, bool, bytes | None]] = []

    def run(self, *args: str, check: bool = True, input_bytes: bytes | None = None) -> proc.Result:
        self.ran.append((args, check, input_bytes))
        code, out, err = self.answers.get(args, (0, "", ""))
        if check and code != 0:
            raise CommandError(["docker", *args], code, out + err)
        return proc.Result(["docker", *args], code, out, err)

    def argvs(self) -> list[Argv]:
        return [argv for argv, _, _ in self.ran]


SERVICE = SWARM["updated"]["services"][0]
TASKS = SWARM["updated"]["tasks"]
FILTER = f"label={STACK_LABEL}=lmsrec"


@pytest.mark.parametrize(
    ("out", "state"),
    [("active true\n", ("active", True)), ("active false\n", ("active", False)),
     ("inactive false\n", ("inactive", False)), ("", ("unknown", False))],
)  # fmt: skip
def test_the_swarm_state_of_the_engine(out: str, state: tuple[str, bool]) -> None:
    docker = Scripted({("info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}"): (0, out, "")})
    assert docker.swarm_state() == state


def test_a_swarm_is_made_on_loopback_and_left_with_its_bridge_network() -> None:
    docker = Scripted({("swarm", "leave", "--force"): (1, "", "not part of a swarm")})
    docker.swarm_init()
    docker.swarm_leave()  # leaving an engine that is in no swarm is not an error
    assert docker.argvs() == [
        ("swarm", "init", "--advertise-addr", "127.0.0.1"),
        ("swarm", "leave", "--force"),
        ("network", "rm", "docker_gwbridge"),
    ]


VERSION = ("version", "--format", "{{.Client.Version}}")


@pytest.mark.parametrize(("client", "detach"), [("28.2.2", ["--detach=true"]), ("20.10.24+dfsg1", []), ("", [])])
def test_a_stack_is_deployed_pruned_from_the_local_images_without_waiting(client: str, detach: list[str]) -> None:
    """Clients from 26 on are told to detach (their default, which they announce will change); Debian 12's
    20.10 client has no --detach for stacks and always detaches; a client that says nothing: the oldest."""
    docker = Scripted({VERSION: (0, f"{client}\n", "")})
    docker.stack_deploy("lmsrec", Path("/work/model.yaml"))
    assert docker.ran == [
        (VERSION, False, None),
        (("stack", "deploy", "--prune", "--resolve-image", "never", *detach,
          "--compose-file", "/work/model.yaml", "lmsrec"), True, None),
    ]  # fmt: skip


def test_stack_deploy_failure_is_raised_unless_the_caller_reads_it() -> None:
    argv = ("stack", "deploy", "--prune", "--resolve-image", "never", "--detach=true", "--compose-file", "m", "s")
    docker = Scripted({VERSION: (0, "28.2.2\n", ""), argv: (1, "", "service web: invalid mount")})
    with pytest.raises(CommandError, match="invalid mount"):
        docker.stack_deploy("s", Path("m"))
    assert docker.stack_deploy("s", Path("m"), check=False).returncode == 1


def test_service_image_and_stack_removal() -> None:
    docker = Scripted({("stack", "rm", "gone"): (1, "", "nothing found in stack: gone")})
    docker.service_set_image("lmsrec_web", "lmsops/web:2")
    docker.stack_rm("gone")
    assert docker.ran == [
        (("service", "update", "--detach", "--image", "lmsops/web:2", "lmsrec_web"), True, None),
        (("stack", "rm", "gone"), False, None),
    ]


def test_a_stacks_services_are_listed_by_its_label_and_inspected_in_one_call() -> None:
    docker = Scripted({
        ("service", "ls", "--quiet", "--filter", FILTER): (0, f"{SERVICE['ID']}\n", ""),
        ("service", "inspect", SERVICE["ID"]): (0, json.dumps([SERVICE]), ""),
    })  # fmt: skip
    assert docker.stack_services("lmsrec") == [SERVICE]


def test_a_stacks_tasks_are_listed_with_full_ids_and_inspected_in_one_call() -> None:
    ids = [str(task["ID"]) for task in TASKS]
    docker = Scripted({
        ("stack", "ps", "--quiet", "--no-trunc", "--no-resolve", "lmsrec"): (0, "\n".join(ids) + "\n", ""),
        ("inspect", "--type", "task", *ids): (0, json.dumps(TASKS), ""),
    })  # fmt: skip
    tasks = docker.stack_tasks("lmsrec")
    assert [task["ID"] for task in tasks] == ids
    assert sum(1 for task in tasks if running_task(task)) == 2  # the two shut down by the update do not run
    assert len(docker.ran) == 2


def test_a_services_tasks_are_read_the_same_way() -> None:
    ids = [str(task["ID"]) for task in TASKS[:2]]
    docker = Scripted({
        ("service", "ps", "--quiet", "--no-trunc", "--no-resolve", "lmsrec_web"): (0, " ".join(ids), ""),
        ("inspect", "--type", "task", *ids): (0, json.dumps(TASKS[:2]), ""),
    })  # fmt: skip
    assert docker.service_tasks("lmsrec_web") == TASKS[:2]


def test_nothing_to_inspect_asks_the_engine_nothing_more() -> None:
    listing = ("stack", "ps", "--quiet", "--no-trunc", "--no-resolve", "none")
    docker = Scripted({listing: (1, "", "nothing found in stack: none")})
    assert docker.stack_tasks("none") == []
    assert docker.argvs() == [listing]


def test_objects_removed_between_the_listing_and_the_inspect_are_left_out() -> None:
    """`docker inspect a b` prints the one it found and fails for the other; all gone: nothing."""
    kept = TASKS[0]
    docker = Scripted({
        ("stack", "ps", "--quiet", "--no-trunc", "--no-resolve", "s"): (0, f"{kept['ID']} gone\n", ""),
        ("inspect", "--type", "task", str(kept["ID"]), "gone"): (1, json.dumps([kept]), "Error: No such object: gone"),
        ("service", "ls", "--quiet", "--filter", f"label={STACK_LABEL}=s"): (0, "gone\n", ""),
        ("service", "inspect", "gone"): (1, "", "Error: no such service: gone"),
    })  # fmt: skip
    assert docker.stack_tasks("s") == [kept]
    assert docker.stack_services("s") == []


def test_a_config_is_created_with_sorted_labels_and_its_data_on_stdin() -> None:
    docker = Scripted()
    assert docker.config_create("lmsrec_release_0001", {"z": "1", "a": "2"}, b"{}") is True
    assert docker.ran == [
        (("config", "create", "--label", "a=2", "--label", "z=1", "lmsrec_release_0001", "-"), True, b"{}"),
    ]


def test_a_config_that_exists_already_is_told_apart_from_a_failure() -> None:
    argv = ("config", "create", "lmsrec_deploy_lock", "-")
    exists = (1, "", "Error response from daemon: rpc error: code = AlreadyExists desc = config lmsrec_deploy_lock "
                     "already exists")  # fmt: skip
    assert Scripted({argv: exists}).config_create("lmsrec_deploy_lock", {}, b"me", check=False) is False
    with pytest.raises(CommandError, match="already exists"):
        Scripted({argv: exists}).config_create("lmsrec_deploy_lock", {}, b"me")
    with pytest.raises(CommandError, match="permission denied"):
        Scripted({argv: (1, "", "permission denied")}).config_create("lmsrec_deploy_lock", {}, b"me", check=False)


def test_a_configs_data_is_decoded_and_a_missing_config_has_none() -> None:
    argv = ("config", "inspect", "--format", "{{json .Spec.Data}}")
    docker = Scripted({
        (*argv, "here"): (0, json.dumps(base64.b64encode(b'{"seq": 1}').decode()) + "\n", ""),
        (*argv, "gone"): (1, "", "Error: no such config: gone"),
    })  # fmt: skip
    assert docker.config_data("here") == b'{"seq": 1}'
    assert docker.config_data("gone") is None


def test_configs_are_found_by_label_and_removed_by_name() -> None:
    config = {"ID": "c1", "Spec": {"Name": "lmsrec_release_0001", "Labels": {"org.lmsops.release": "lmsrec"}}}
    docker = Scripted({
        ("config", "ls", "--quiet", "--filter", "label=org.lmsops.release=lmsrec"): (0, "c1\n", ""),
        ("config", "inspect", "c1"): (0, json.dumps([config, "not an object"]), ""),
        ("config", "rm", "gone"): (1, "", "no such config"),
    })  # fmt: skip
    assert docker.configs_with_label("org.lmsops.release=lmsrec") == [config]
    assert docker.config_rm(["gone"]).returncode == 1  # already gone: reported, not raised


def test_secrets_networks_and_volumes_of_a_stack_by_its_label() -> None:
    docker = Scripted({
        ("secret", "ls", "--filter", FILTER, "--format", "{{.Name}}"): (0, "lmsrec_db_v1\nlmsrec_db_v2\n", ""),
        ("network", "ls", "--filter", FILTER, "--format", "{{.Name}}"): (0, "lmsrec_default\n", ""),
        ("volume", "ls", "--quiet", "--filter", f"label={STACK_LABEL}=lmsrec"): (0, "lmsrec_data\n", ""),
    })  # fmt: skip
    assert docker.stack_secrets("lmsrec") == ["lmsrec_db_v1", "lmsrec_db_v2"]
    assert docker.stack_networks("lmsrec") == ["lmsrec_default"]
    assert docker.volumes_with_label(f"{STACK_LABEL}=lmsrec") == ["lmsrec_data"]


def test_secrets_and_volumes_are_removed_in_one_call_without_raising() -> None:
    docker = Scripted({("volume", "rm", "lmsrec_data"): (1, "", "volume is in use")})
    assert docker.secret_rm(["lmsrec_db_v1", "lmsrec_token_v1"]).returncode == 0
    assert docker.volume_rm(["lmsrec_data"]).returncode == 1
    assert docker.ran == [
        (("secret", "rm", "lmsrec_db_v1", "lmsrec_token_v1"), False, None),
        (("volume", "rm", "lmsrec_data"), False, None),
    ]
