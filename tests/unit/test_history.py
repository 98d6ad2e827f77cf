"""lmsops.releases.history: the releases a Swarm environment records in the swarm itself (one Docker
config per release), their numbering and order, who deployed, and what rollback reads back from them.
The swarm's config store is a scripted engine's (tests/unit/adapter_fakes.SwarmConfigs)."""

from __future__ import annotations

import base64
import json
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from lmsops.core.docker import Docker
from lmsops.core.errors import ConfigError
from lmsops.core.paths import Repo
from lmsops.environments.config import load_environment
from lmsops.environments.model import COMMIT_LABEL, CONFIG_LABEL, Model, model_services
from lmsops.releases import history
from lmsops.releases.history import RELEASE_LABEL, Release
from tests.unit.adapter_fakes import ScriptedEngine, SwarmConfigs, scripted_engine

COMMIT = "0123456789abcdef0123456789abcdef01234567"
CATALOG = "127.0.0.1:5000/lmsops/catalog@sha256:" + "c" * 64
GATEWAY = "127.0.0.1:5000/lmsops/gateway@sha256:" + "a" * 64


class FrozenTime:
    """datetime for the history module: always the same moment."""

    @staticmethod
    def now(tz: Any) -> datetime:
        assert tz is UTC, "releases are stamped in UTC"
        return datetime(2026, 11, 27, 9, 30, 5, tzinfo=UTC)


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> ScriptedEngine:
    monkeypatch.setattr(history, "datetime", FrozenTime)
    monkeypatch.setattr(socket, "gethostname", lambda: "build-7")
    monkeypatch.setenv("GITHUB_ACTOR", "release-bot")
    monkeypatch.setattr(history, "registry_sboms", lambda images: {})  # asked of registries: test_sbom_publish.py
    return scripted_engine(monkeypatch)


def staging_model(project: Repo, images: dict[str, str], commit: str = COMMIT) -> Model:
    env = load_environment(project, "staging", model_services(project))
    labels = {COMMIT_LABEL: commit, CONFIG_LABEL: "cafe1234"}
    document = {"services": {name: {"image": image, "deploy": {"labels": labels}} for name, image in images.items()}}
    text = yaml.safe_dump(document, sort_keys=True)
    return Model(env, [], project.root / "compose.env", [], document, text)


def test_a_release_is_recorded_as_a_labelled_config_holding_everything_rollback_needs(
    engine: ScriptedEngine, project: Repo
) -> None:
    store = SwarmConfigs(engine)
    model = staging_model(project, {"catalog": CATALOG, "gateway": GATEWAY})
    release = history.record_release(Docker(), model, note="promoted from staging")
    assert release == Release(
        seq=1, env="staging", stack="lms-staging", commit=COMMIT, config="cafe1234",
        images={"catalog": CATALOG, "gateway": GATEWAY}, by="release-bot (CI)", at="2026-11-27T09:30:05Z",
        note="promoted from staging", model=model.text, host="build-7",
    )  # fmt: skip
    [(name, config)] = store.configs.items()
    assert name == "lms-staging_release_0001"
    assert config["Spec"]["Labels"] == {RELEASE_LABEL: "lms-staging"}
    assert json.loads(base64.b64decode(config["Spec"]["Data"])) == {**release.__dict__}


def test_releases_are_numbered_on_from_the_last_and_read_back_oldest_first(
    engine: ScriptedEngine, project: Repo
) -> None:
    SwarmConfigs(engine)  # lists the newest first, as `docker config ls` may
    docker = Docker()
    for image in ("v1", "v2", "v3"):
        history.record_release(docker, staging_model(project, {"catalog": f"lmsops/catalog:{image}"}))
    found = history.releases(docker, "lms-staging")
    assert [(r.seq, r.images["catalog"]) for r in found] == [
        (1, "lmsops/catalog:v1"), (2, "lmsops/catalog:v2"), (3, "lmsops/catalog:v3"),
    ]  # fmt: skip
    assert ["config", "create", "--label", f"{RELEASE_LABEL}=lms-staging", "lms-staging_release_0003", "-"] in (
        engine.verbs
    )
    assert history.releases(docker, "lms-production") == [], "each stack has its own history"


def test_no_release_configs_is_an_empty_history_without_an_inspect(engine: ScriptedEngine) -> None:
    """A stack never deployed has an empty history (docker config inspect of nothing would fail)."""
    assert history.releases(Docker(), "lms-staging") == []
    assert engine.verbs == [["config", "ls", "--quiet", "--filter", f"label={RELEASE_LABEL}=lms-staging"]]


def test_a_release_of_a_model_without_services_records_no_commit(engine: ScriptedEngine, project: Repo) -> None:
    SwarmConfigs(engine)
    release = history.record_release(Docker(), staging_model(project, {}))
    assert (release.commit, release.config, release.images) == ("", "", {})


def test_the_history_line_shows_the_short_commit_dirty_kept_and_images_by_name() -> None:
    release = Release(
        seq=7, env="staging", stack="lms-staging", commit=f"{COMMIT}-dirty", config="cafe1234",
        images={"gateway": GATEWAY, "catalog": CATALOG}, by="Ada <ada@example.org>", at="2026-11-27T09:30:05Z",
        note="rollback to #5", model="",
    )  # fmt: skip
    assert release.line() == (
        "#7 2026-11-27T09:30:05Z by Ada <ada@example.org>: commit 0123456789ab-dirty config cafe1234 (rollback to #5)\n"
        f"    catalog=catalog@sha256:{'c' * 64}, gateway=gateway@sha256:{'a' * 64}"
    )
    assert "()" not in Release(**{**release.__dict__, "note": ""}).line()


@pytest.mark.parametrize("variable", ["GITHUB_ACTOR", "GITLAB_USER_LOGIN", "CI_ACTOR"])
def test_who_is_the_ci_actor_first(monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    for name in ("GITHUB_ACTOR", "GITLAB_USER_LOGIN", "CI_ACTOR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, "runner-7")
    assert history.who() == "runner-7 (CI)"


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ("[user]\n\tname = Ada\n\temail = ada@example.org\n", "Ada <ada@example.org>"),
        ("[user]\n\tname = Ada\n", "Ada"),
        ("", "login-of-ada"),
    ],
)
def test_who_outside_ci_is_the_git_user_else_the_login_name(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, config: str, expected: str
) -> None:
    for name in ("GITHUB_ACTOR", "GITLAB_USER_LOGIN", "CI_ACTOR"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "gitconfig").write_text(config)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("LOGNAME", "login-of-ada")
    monkeypatch.chdir(tmp_path)
    assert history.who() == expected


def release(seq: int) -> Release:
    return Release(seq, "staging", "lms-staging", COMMIT, "c", {}, "me", "2026-11-27T09:30:05Z", "", f"seq: {seq}\n")


@pytest.mark.parametrize("count", [0, 1])
def test_there_is_nothing_to_roll_back_to_before_a_second_release(count: int) -> None:
    with pytest.raises(ConfigError, match=f"^staging: no previous release to roll back to \\({count} recorded\\)$"):
        history.previous([release(n) for n in range(1, count + 1)], "staging")


def test_the_previous_release_is_the_one_before_the_last() -> None:
    assert history.previous([release(1), release(2), release(3)], "staging").seq == 2


def test_model_of_a_release_is_its_recorded_model_for_the_current_environment(project: Repo) -> None:
    current = staging_model(project, {"catalog": "lmsops/catalog:new"})
    old = Release(**{**release(4).__dict__, "model": "services:\n  catalog:\n    image: lmsops/catalog:old\n"})
    model = history.model_of(old, current)
    assert model.document == {"services": {"catalog": {"image": "lmsops/catalog:old"}}}
    assert (model.text, model.env, model.project) == (old.model, current.env, "lms-staging")


# -- the history table ---------------------------------------------------------------------------------


def recorded_release(seq: int, services: dict[str, Any], note: str = "", host: str = "build-7") -> Release:
    """A release whose model declares services (with the release labels, which change every commit)."""
    labels = {COMMIT_LABEL: f"{seq}" * 40, CONFIG_LABEL: f"cfg{seq}"}
    document = {"services": {name: {**spec, "deploy": {**spec.get("deploy", {}), "labels": labels}}
                             for name, spec in services.items()}}  # fmt: skip
    images = {name: str(spec["image"]) for name, spec in services.items()}
    return Release(seq, "staging", "lms-staging", f"{seq}" * 40, f"cfg{seq}", images, "Ada <ada@example.org>",
                   f"2026-11-2{seq}T09:30:05Z", note, yaml.safe_dump(document), host)  # fmt: skip


def test_the_history_table_names_what_each_release_changed_with_short_digests_and_marks_what_runs() -> None:
    v1 = {"catalog": {"image": CATALOG}, "gateway": {"image": GATEWAY}}
    v2 = {**v1, "catalog": {"image": CATALOG.replace("c" * 64, "d" * 64)}, "grades": {"image": CATALOG}}
    v3 = {"catalog": v2["catalog"], "gateway": {"image": GATEWAY, "deploy": {"replicas": 2}}}
    history_ = [recorded_release(1, v1), recorded_release(2, v2), recorded_release(3, v3, "rollback to #1", "")]
    rows = history.history_rows(history_, running={"catalog": v2["catalog"]["image"], "gateway": GATEWAY,
                                                   "grades": CATALOG})  # fmt: skip
    assert [(row.release.seq, row.changed, row.current) for row in rows] == [
        (3, ["gateway", "-grades"], False),  # gateway: the same image, other replicas
        (2, ["catalog", "+grades"], True),  # its images are what runs (3 declares other replicas)
        (1, ["catalog", "gateway"], False),  # the first release: every service is new
    ]
    assert history.history_table(rows) == [
        ("", "RELEASE", "WHEN", "WHO", "COMMIT", "CHANGED (NEW DIGEST OR CONFIG)", "NOTE"),
        ("", "#3", "2026-11-23 09:30:05Z", "Ada", "3" * 12, "gateway config, -grades", "rollback to #1"),
        ("*", "#2", "2026-11-22 09:30:05Z", "Ada@build-7", "2" * 12, f"catalog {'d' * 12}, +grades {'c' * 12}", ""),
        ("", "#1", "2026-11-21 09:30:05Z", "Ada@build-7", "1" * 12, f"catalog {'c' * 12}, gateway {'a' * 12}", ""),
    ]


def test_when_nothing_runs_as_recorded_the_last_release_is_the_current_one() -> None:
    releases_ = [
        recorded_release(1, {"catalog": {"image": CATALOG}}),
        recorded_release(2, {"catalog": {"image": GATEWAY}}),
    ]
    assert history.current_release(releases_, running={"catalog": "changed-by-hand"}) is releases_[1]
    assert history.current_release([], running={}) is None


def test_a_release_recorded_before_hosts_were_kept_still_reads(engine: ScriptedEngine) -> None:
    store = SwarmConfigs(engine)
    old = {k: v for k, v in dataclasses_asdict(release(1)).items() if k != "host"}
    store.configs["lms-staging_release_0001"] = {
        "ID": "old1", "Spec": {"Name": "lms-staging_release_0001", "Labels": {RELEASE_LABEL: "lms-staging"},
                               "Data": base64.b64encode(json.dumps(old).encode()).decode()},
    }  # fmt: skip
    [read] = history.releases(Docker(), "lms-staging")
    assert (read.seq, read.host, read.who) == (1, "", "me")


def dataclasses_asdict(value: Release) -> dict[str, Any]:
    return dict(value.__dict__)
