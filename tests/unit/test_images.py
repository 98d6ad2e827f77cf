from __future__ import annotations

import pytest

from lmsops.core.errors import ConfigError
from lmsops.core.paths import Repo, find_repo
from lmsops.environments.stack import deployed_images
from lmsops.images.discovery import discover, select
from lmsops.images.plan import plan_images
from lmsops.images.versions import load_versions
from tests.unit.conftest import VERSIONS, write

SERVICE = "ARG PYTHON_BUILD_IMAGE\nARG PYTHON_IMAGE\nFROM ${PYTHON_BUILD_IMAGE} AS build\nFROM ${PYTHON_IMAGE}\n"


def names(repo: Repo) -> list[str]:
    return [spec.name for spec in discover(repo, load_versions(repo))]


def test_bases_come_before_what_builds_on_them_and_services_are_discovered(repo: Repo) -> None:
    write(repo.services / "catalog" / "Dockerfile", SERVICE)
    write(repo.services / "catalog" / "pyproject.toml", '[project]\nname = "catalog"\nversion = "1.2.0"\n')
    specs = {spec.name: spec for spec in discover(repo, load_versions(repo))}
    order = list(specs)
    assert order.index("python") < order.index("python-build") < order.index("catalog")
    assert specs["catalog"].parents == ("python-build", "python")
    assert specs["catalog"].runtime_parent == "python"
    assert specs["catalog"].version == "1.2.0"
    assert specs["catalog"].kind == "service"


def test_a_new_service_folder_is_picked_up_without_any_list(repo: Repo) -> None:
    assert "grades" not in names(repo)
    write(repo.services / "grades" / "Dockerfile", SERVICE)
    assert "grades" in names(repo)


def test_parents_come_from_the_dockerfile_not_from_a_list(repo: Repo) -> None:
    write(repo.base_images / "postgres" / "Dockerfile", "ARG PYTHON_IMAGE\nFROM ${PYTHON_IMAGE}\n")
    order = names(repo)
    assert order.index("python") < order.index("postgres")


def test_unknown_base_argument_names_the_known_ones(repo: Repo) -> None:
    write(repo.services / "catalog" / "Dockerfile", "ARG NODE_IMAGE\nFROM ${NODE_IMAGE}\n")
    with pytest.raises(ConfigError, match=r"services/catalog/Dockerfile:2: \$\{NODE_IMAGE\} names no base.*OS_IMAGE"):
        names(repo)


def test_a_cycle_between_bases_is_refused(repo: Repo) -> None:
    write(repo.base_images / "python" / "Dockerfile", "ARG PYTHON_BUILD_IMAGE\nFROM ${PYTHON_BUILD_IMAGE}\n")
    with pytest.raises(ConfigError, match="cycle: python -> python-build -> python"):
        names(repo)


def test_a_base_folder_must_be_listed_in_versions(repo: Repo) -> None:
    write(repo.base_images / "node" / "Dockerfile", "ARG OS_IMAGE\nFROM ${OS_IMAGE}\n")
    with pytest.raises(ConfigError, match=r"base-images/node/Dockerfile is not listed in base-images/versions.yaml"):
        names(repo)


def test_a_listed_base_needs_its_folder(repo: Repo) -> None:
    write(repo.versions_file, VERSIONS + "  redis:\n    version: '7-1'\n")
    with pytest.raises(ConfigError, match=r"images.redis has no base-images/redis/Dockerfile"):
        names(repo)


def test_bad_service_folder_names_are_refused(repo: Repo) -> None:
    write(repo.services / "Bad_Name" / "Dockerfile", SERVICE)
    with pytest.raises(ConfigError, match="services/Bad_Name: a service folder name"):
        names(repo)


def test_select_adds_the_bases_an_image_needs(repo: Repo) -> None:
    write(repo.services / "catalog" / "Dockerfile", SERVICE)
    specs = discover(repo, load_versions(repo))
    assert [s.name for s in select(specs, ["catalog"])] == ["python", "python-build", "catalog"]
    assert [s.name for s in select(specs, ["postgres"])] == ["postgres"]
    with pytest.raises(ConfigError, match="unknown image 'nope'"):
        select(specs, ["nope"])


def test_service_inputs_are_its_folder_and_what_it_copies_from_elsewhere(repo: Repo) -> None:
    write(repo.root / "libs" / "lms-runtime" / "src" / "lms_runtime" / "__init__.py", "")
    dockerfile = (
        SERVICE + "COPY libs/lms-runtime/src/lms_runtime /srv/lms_runtime\nCOPY services/catalog/app /srv/app\n"
    )
    write(repo.services / "catalog" / "Dockerfile", dockerfile)
    write(repo.services / "gateway" / "Dockerfile", "ARG OS_IMAGE\nFROM ${OS_IMAGE}\nCOPY services/gateway/x /x\n")
    specs = {spec.name: spec for spec in discover(repo, load_versions(repo))}
    runtime = repo.root / "libs" / "lms-runtime" / "src" / "lms_runtime"
    assert specs["catalog"].inputs == (repo.services / "catalog", runtime)
    assert specs["gateway"].inputs == (repo.services / "gateway",)


def test_copying_a_path_that_does_not_exist_is_refused(repo: Repo) -> None:
    write(repo.services / "catalog" / "Dockerfile", SERVICE + "COPY libs/nope /srv/nope\n")
    with pytest.raises(ConfigError, match="services/catalog/Dockerfile: COPY libs/nope: no such path"):
        names(repo)


def test_a_deploy_publishes_the_images_its_compose_files_run_and_not_the_build_bases() -> None:
    planned = [image.name for image in plan_images(find_repo(), load_versions(find_repo()))]
    assert deployed_images(find_repo(), planned) == {
        "catalog",
        "enrollment",
        "gateway",
        "postgres",
    }
