"""What a service declares about itself in its fragment: replicas per environment, its port."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lmsops.core.errors import ConfigError
from lmsops.core.paths import Repo
from lmsops.environments.stack import gateway_routes, service_ports
from tests.unit.test_model import render


def edit_fragment(project: Repo, service: str, change: dict[str, object]) -> None:
    path = project.services / service / "compose.yaml"
    document = yaml.safe_load(path.read_text())
    document["services"][service].update(change)
    path.write_text(yaml.safe_dump(document))


def set_env_replicas(project: Repo, env: str, replicas: dict[str, int]) -> None:
    path = project.root / "env" / f"{env}.yaml"
    document = yaml.safe_load(path.read_text())
    document["deploy"]["replicas"] = replicas
    path.write_text(yaml.safe_dump(document))


def test_a_service_declares_its_own_replicas_per_environment(project: Repo, tmp_path: Path) -> None:
    edit_fragment(project, "catalog", {"x-lmsops": {"replicas": {"staging": 3, "production": 5}}})
    set_env_replicas(project, "staging", {"default": 2})
    assert render(project, "staging", tmp_path)["catalog"]["deploy"]["replicas"] == 3
    assert render(project, "staging", tmp_path)["enrollment"]["deploy"]["replicas"] == 2
    assert render(project, "production", tmp_path)["catalog"]["deploy"]["replicas"] == 5


def test_the_environment_file_overrides_what_the_service_declares(project: Repo, tmp_path: Path) -> None:
    edit_fragment(project, "catalog", {"x-lmsops": {"replicas": {"staging": 3}}})
    set_env_replicas(project, "staging", {"default": 2, "catalog": 1})
    assert render(project, "staging", tmp_path)["catalog"]["deploy"]["replicas"] == 1


@pytest.mark.parametrize(
    ("extension", "message"),
    [
        ({"replicas": {"stagin": 2}}, "services.catalog.x-lmsops.replicas.stagin: no such environment"),
        ({"replicas": {"staging": "two"}}, "replicas.staging: 'two' is not a count of replicas"),
        ({"replicas": {"staging": 500}}, "replicas.staging: 500 is not a count of replicas"),
        ({"replica": {"staging": 2}}, "only 'replicas: {<environment>: <count>}' is understood here"),
    ],
)
def test_bad_replica_declarations_name_the_file_and_key(
    project: Repo, tmp_path: Path, extension: dict[str, object], message: str
) -> None:
    edit_fragment(project, "catalog", {"x-lmsops": extension})
    with pytest.raises(ConfigError, match=r"services/catalog/compose\.yaml") as error:
        render(project, "staging", tmp_path)
    assert message in str(error.value)


def test_ports_come_from_the_fragments_and_route_the_gateway(project: Repo) -> None:
    ports = service_ports(project)
    assert ports["catalog"] != ports["enrollment"]
    assert f"catalog=catalog:{ports['catalog']}" in gateway_routes(project).split()


def test_a_port_file_that_disagrees_with_lms_port_is_refused(project: Repo) -> None:
    port = service_ports(project)["catalog"]
    (project.services / "catalog" / f".port-{port}").write_text("")
    (project.services / "catalog" / ".port-9999").write_text("")
    with pytest.raises(ConfigError, match=r"services/catalog/\.port-9999: the service listens on \d+"):
        service_ports(project)


def test_two_services_on_one_port_are_refused(project: Repo) -> None:
    port = service_ports(project)["catalog"]
    edit_fragment(project, "enrollment", {"environment": {"LMS_PORT": str(port)}})
    with pytest.raises(ConfigError, match=f"LMS_PORT {port} is also the port of catalog"):
        service_ports(project)


def test_a_port_that_is_not_a_number_is_a_config_error(project: Repo) -> None:
    edit_fragment(project, "catalog", {"environment": {"LMS_PORT": "http"}})
    with pytest.raises(ConfigError, match=r"services/catalog/compose\.yaml: LMS_PORT 'http' is not a port number"):
        service_ports(project)
