"""lmsops.deploy.promote: production gets exactly the digests staging runs, and nothing is promoted
from a source that has no registry, is not deployed, is unhealthy, has drifted or runs images by tag.

The source's model and target are scripted (resolve, target_of) and the destination's deploy is
recorded: what is tested is what promote checks, in which order, and what it hands to deploy.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from lmsops.core.errors import ConfigError
from lmsops.core.paths import Repo
from lmsops.deploy import promote as promote_module
from lmsops.deploy.apply import DeployResult
from lmsops.drift.compare import Difference
from lmsops.environments.config import load_environment
from lmsops.environments.model import Model, model_services
from lmsops.targets.base import ServiceStatus
from lmsops.targets.lock import LockPolicy
from tests.unit.adapter_fakes import ScriptedTarget, StubContext, reporter
from tests.unit.fakes import FakeDocker

CATALOG = "127.0.0.1:5000/lmsops/catalog@sha256:" + "c" * 64
GATEWAY = "127.0.0.1:5000/lmsops/gateway@sha256:" + "a" * 64


def row(service: str, image: str, running: int = 2, desired: int = 2) -> ServiceStatus:
    return ServiceStatus(service, desired, running, "healthy", image, "7c5424cff98a")


@dataclass
class Promotion:
    """What one promote call did: the models it resolved, the target it asked, the deploy it started."""

    project: Repo
    target: ScriptedTarget | None = None
    resolved: list[str] = field(default_factory=list)
    deploys: list[dict[str, Any]] = field(default_factory=list)

    def model(self, name: str) -> Model:
        env = load_environment(self.project, name, model_services(self.project))
        return Model(env, [], self.project.root / "compose.env", [], {}, "")


@pytest.fixture
def promotion(monkeypatch: pytest.MonkeyPatch, project: Repo) -> Iterator[Promotion]:
    done = Promotion(project)

    def resolve(repo: Repo, docker: Any, env_name: str, pinned: Any = None, plan: Any = None) -> Model:
        assert pinned is None, "the source is resolved as its files declare"
        done.resolved.append(env_name)
        return done.model(env_name)

    def target_of(docker: Any, model: Model) -> ScriptedTarget:
        assert done.target is not None, "this test did not expect a target"
        assert done.target.env == model.env, "the source's own target is checked"
        return done.target

    def deploy(ctx: Any, env_name: str, **kwargs: Any) -> DeployResult:
        done.deploys.append({"env": env_name, **kwargs})
        return DeployResult(env_name, ["catalog"], ["gateway"])

    monkeypatch.setattr(promote_module, "resolve", resolve)
    monkeypatch.setattr(promote_module, "target_of", target_of)
    monkeypatch.setattr(promote_module, "deploy", deploy)
    yield done


def scripted(promotion: Promotion, **answers: Any) -> ScriptedTarget:
    promotion.target = ScriptedTarget(promotion.model("staging").env, FakeDocker(), **answers)
    return promotion.target


def promote(promotion: Promotion, source: str = "staging", **kwargs: Any) -> tuple[DeployResult, str]:
    report, out = reporter()
    result = promote_module.promote(
        StubContext(promotion.project, FakeDocker(), report), source, "production", **kwargs
    )
    return result, out.getvalue()


def test_the_running_digests_of_a_healthy_undrifted_source_are_deployed_to_the_destination(
    promotion: Promotion,
) -> None:
    target = scripted(promotion, rows=[row("gateway", GATEWAY, 1, 1), row("catalog", CATALOG)])
    policy = LockPolicy(wait=5)
    result, said = promote(promotion, yes=True, lock=policy)
    assert result == DeployResult("production", ["catalog"], ["gateway"])
    assert target.calls == ["prepare", "status", "drift"]
    assert promotion.deploys == [
        {"env": "production", "yes": True, "pinned": {"catalog": CATALOG, "gateway": GATEWAY},
         "note": "promoted from staging", "lock": policy},
    ]  # fmt: skip
    assert said.splitlines()[-3:] == [
        "==> promote: production gets the digests running in staging:",
        f"    catalog: {CATALOG}",
        f"    gateway: {GATEWAY}",
    ]


def test_a_source_without_a_registry_is_refused_before_anything_is_asked(promotion: Promotion) -> None:
    with pytest.raises(ConfigError, match=r"dev has no target\.registry in env/dev\.yaml"):
        promote(promotion, "dev")
    assert (promotion.resolved, promotion.target, promotion.deploys) == (["dev"], None, [])


def test_a_source_that_is_not_deployed_is_refused(promotion: Promotion) -> None:
    target = scripted(promotion, rows=[])
    with pytest.raises(ConfigError, match=r"^staging is not healthy \(not deployed\); nothing promoted$"):
        promote(promotion)
    assert (target.calls, promotion.deploys) == (["prepare", "status"], [])


def test_a_source_with_services_below_their_replicas_is_refused_naming_them(promotion: Promotion) -> None:
    target = scripted(
        promotion, rows=[row("catalog", CATALOG, 1), row("gateway", GATEWAY, 1, 1), row("postgres", "p", 0, 1)]
    )
    with pytest.raises(ConfigError, match=r"^staging is not healthy \(catalog 1/2, postgres 0/1\); nothing promoted$"):
        promote(promotion)
    assert (target.calls, promotion.deploys) == (["prepare", "status"], [])


def test_a_source_that_has_drifted_is_refused_listing_at_most_ten_differences(promotion: Promotion) -> None:
    differences = [Difference("staging", f"svc{n}", "environment", "LMS_LOG_LEVEL", "info", "debug") for n in range(12)]
    target = scripted(promotion, rows=[row("catalog", CATALOG)], drift=differences)
    with pytest.raises(ConfigError) as refused:
        promote(promotion)
    lines = str(refused.value).splitlines()
    assert lines[0] == "staging has drifted from its declaration; nothing promoted:"
    assert lines[1:] == [f"  - svc{n}: LMS_LOG_LEVEL: declared info, running debug" for n in range(10)]
    assert (target.calls, promotion.deploys) == (["prepare", "status", "drift"], [])


def test_a_source_running_images_by_tag_is_refused_naming_them(promotion: Promotion) -> None:
    scripted(promotion, rows=[row("catalog", CATALOG), row("gateway", "lmsops/gateway:0.1.0"), row("db", "pg:15")])
    with pytest.raises(
        ConfigError, match=r"^staging runs gateway, db by tag, not by digest; deploy it from a registry"
    ):
        promote(promotion)
    assert promotion.deploys == []
