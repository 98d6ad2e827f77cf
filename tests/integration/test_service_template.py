"""templates/service with real copier and real git, in a scratch clone of this repository.

See tests/integration/scratch.py for the clone: bases stay up to date, the template under test
is the working tree's.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from lmsops.bench.throwaway import throwaway_environments
from lmsops.core.docker import Docker
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter
from lmsops.data.backup import backup
from lmsops.data.restore import restore
from lmsops.deploy.apply import deploy
from lmsops.environments.model import resolve
from lmsops.images.build import build
from lmsops.images.context import Context
from lmsops.targets.status import down, drift_of
from lmsops.templates.update import update_services
from tests.integration.http import call
from tests.integration.scratch import BIN, commit, make_clone, run
from tests.integration.test_api_contract import check_contract
from tests.ports import free_port


def copier(clone: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """copier exactly as a user types it, from the repository root."""
    return run([str(BIN / "copier"), "copy", "--defaults", *args], clone, check)


@pytest.fixture
def clone(repo: Repo, tmp_path: Path) -> Path:
    return make_clone(repo, tmp_path / "lms")


@pytest.fixture
def built_images(docker: Docker) -> Iterator[list[str]]:
    """Images a test builds from a scratch service; removed afterwards."""
    references: list[str] = []
    yield references
    for reference in references:
        docker.remove_image(reference)


def unit_tests(service: Path) -> subprocess.CompletedProcess[str]:
    """The service's own unit tests in a fresh virtualenv from its hash-locked dev requirements."""
    venv = service.parent.parent.parent / f"venv-{service.name}"
    run([str(BIN / "uv"), "venv", "--quiet", "--python", sys.executable, str(venv)], service)
    run([str(BIN / "uv"), "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"),
         "--require-hashes", "-r", "requirements-dev.lock"], service)  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(service.parent.parent / "libs" / "lms-runtime" / "src")}
    return subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=service,
        capture_output=True,
        text=True,
        env=env,
    )


def test_a_stamped_service_builds_and_passes_its_unit_tests(
    clone: Path, docker: Docker, built_images: list[str]
) -> None:
    stamped = copier(clone, "--data", "team=assessment", "templates/service", "services/quiz")
    assert "Service quiz stamped" in stamped.stderr + stamped.stdout
    service = clone / "services" / "quiz"
    answers = yaml.safe_load((service / ".copier-answers.yml").read_text())
    taken = {int(path.name.removeprefix(".port-")) for path in clone.glob("services/*/.port-*")} - {answers["port"]}
    assert answers["port"] == min(set(range(8001, 9000)) - taken), "the default port is the first free one"
    assert answers["team"] == "assessment" and answers["database"] is True
    assert (service / f".port-{answers['port']}").is_file()

    results = build(Repo(clone), docker, Reporter(), names=["quiz"], mode="offline")
    quiz = next(result for result in results if result.name == "quiz")
    built_images.append(quiz.reference)
    labels = docker.image_labels(quiz.reference)
    assert labels["org.opencontainers.image.title"] == "quiz"
    assert [r.built for r in results if r.name != "quiz"] == [False] * (len(results) - 1), "bases rebuilt"

    tests = unit_tests(service)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert " passed" in tests.stdout


def test_a_service_without_a_database_passes_its_unit_tests(clone: Path) -> None:
    copier(clone, "--data", "database=false", "templates/service", "services/notices")
    service = clone / "services" / "notices"
    assert not (service / "app" / "models.py").exists()
    assert "secrets" not in yaml.safe_load((service / "compose.yaml").read_text())
    tests = unit_tests(service)
    assert tests.returncode == 0, tests.stdout + tests.stderr


@pytest.mark.parametrize(
    ("destination", "data", "message"),
    [
        ("services/Bad_Name", [], "'Bad_Name' is not a valid service name"),
        ("services/catalog", [], "'catalog' is already a service (services/catalog/compose.yaml exists)"),
        ("services/quiz", ["--data", "port=8001"], "port 8001 is already used by the service 'catalog'"),
        ("services/quiz", ["--data", "port=80"], "port 80 is out of range"),
        ("services/quiz", ["--data", "service_name=exam"], "the service name is its folder name"),
        ("services/gateway", [], "'gateway' is reserved"),
    ],
)
def test_bad_answers_are_refused_with_the_validators_message(
    clone: Path, destination: str, data: list[str], message: str
) -> None:
    before = sorted(path.name for path in (clone / "services").iterdir())
    refused = copier(clone, *data, "templates/service", destination, check=False)
    assert refused.returncode != 0
    assert message in refused.stderr
    assert sorted(path.name for path in (clone / "services").iterdir()) == before, "nothing half-made"


def test_an_update_keeps_hand_edits_and_brings_the_template_change(clone: Path) -> None:
    copier(clone, "templates/service", "services/quiz")
    commit(clone, "stamp quiz (template version A)")
    main = clone / "services" / "quiz" / "app" / "main.py"
    hand_edit = "    app.state.grading = 'strict'  # by hand\n"
    main.write_text(main.read_text().replace("    return app\n", hand_edit + "    return app\n"))
    commit(clone, "quiz: a hand edit")
    dockerfile = clone / "templates" / "service" / "Dockerfile.jinja"
    template_change = "LABEL org.lmsops.template=B\n"
    dockerfile.write_text(dockerfile.read_text().replace("WORKDIR /srv\n", "WORKDIR /srv\n" + template_change))
    commit(clone, "template version B")

    results = {result.service: result for result in update_services(Repo(clone), [], Reporter())}

    assert "app.state.grading = 'strict'  # by hand" in main.read_text()
    assert "LABEL org.lmsops.template=B" in (clone / "services" / "quiz" / "Dockerfile").read_text()
    assert results["quiz"].outcome == "updated" and "Dockerfile" in results["quiz"].changed
    # The reference services are stamped too: the change reaches them, their own code stays.
    for reference in ("catalog", "enrollment"):
        assert results[reference].outcome == "updated"
        assert "LABEL org.lmsops.template=B" in (clone / "services" / reference / "Dockerfile").read_text()
    assert "courses.router" in (clone / "services" / "catalog" / "app" / "main.py").read_text()
    head = run(["git", "rev-parse", "HEAD"], clone).stdout.strip()
    assert yaml.safe_load((clone / "services" / "quiz" / ".copier-answers.yml").read_text())["_commit"] == head

    commit(clone, "services updated to B")
    again = update_services(Repo(clone), ["quiz"], Reporter())
    assert [result.outcome for result in again] == ["up to date"]


def test_a_conflicting_edit_is_reported_and_left_marked(clone: Path) -> None:
    copier(clone, "templates/service", "services/quiz")
    commit(clone, "stamp quiz")
    dockerfile = clone / "services" / "quiz" / "Dockerfile"
    interval = re.search(r"--interval=\w+", dockerfile.read_text())
    assert interval, "the stamped Dockerfile has a HEALTHCHECK interval to edit"
    ours, theirs = "--interval=7s", "--interval=11s"  # both edits must change it, in different ways
    assert interval[0] not in {ours, theirs}, interval[0]
    dockerfile.write_text(dockerfile.read_text().replace(interval[0], ours))
    commit(clone, "quiz: its own health check interval")
    template = clone / "templates" / "service" / "Dockerfile.jinja"
    assert interval[0] in template.read_text()
    template.write_text(template.read_text().replace(interval[0], theirs))
    commit(clone, "template: other health checks")

    cli = run([sys.executable, "-m", "lmsops", "update-services", "quiz"], clone, check=False)

    assert cli.returncode == 1
    assert "quiz: conflicts" in cli.stdout and "CONFLICTS (resolve, then commit): Dockerfile" in cli.stdout
    text = dockerfile.read_text()
    assert "<<<<<<< before updating" in text and ours in text and theirs in text


def test_services_with_uncommitted_changes_are_skipped_untouched(clone: Path) -> None:
    template = clone / "templates" / "service" / "README.md.jinja"
    template.write_text(template.read_text() + "\nTemplate version C.\n")
    commit(clone, "template C")
    readme = clone / "services" / "catalog" / "README.md"
    readme.write_text(readme.read_text() + "\nWork in progress.\n")

    results = {result.service: result for result in update_services(Repo(clone), [], Reporter())}

    assert results["catalog"].outcome == "skipped" and "uncommitted changes" in results["catalog"].note
    assert "Template version C." not in readme.read_text() and "Work in progress." in readme.read_text()
    assert results["enrollment"].outcome == "updated"


def test_lmsops_new_service_reports_a_refused_answer_in_one_line(clone: Path) -> None:
    refused = run([sys.executable, "-m", "lmsops", "new-service", "quiz", "port=8001"], clone, check=False)
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        "lmsops: error: templates/service: port: port 8001 is already used by the service 'catalog' "
        "(services/catalog/.port-8001); choose another port"
    ]
    assert not (clone / "services" / "quiz").exists()
    made = run([sys.executable, "-m", "lmsops", "new-service", "quiz", "database=false", "team=exams"], clone)
    assert "services/quiz stamped" in made.stdout
    answers = yaml.safe_load((clone / "services" / "quiz" / ".copier-answers.yml").read_text())
    assert (answers["_src_path"], answers["database"], answers["team"]) == ("templates/service", False, "exams")


def test_a_stamped_service_with_a_database_is_migrated_checked_backed_up_and_restored_with_no_other_edit(
    clone: Path, docker: Docker, built_images: list[str], tmp_path: Path
) -> None:
    """Issue 17's promise for a new service: stamped, it gets its first migration applied by the
    deploy, its schema compared by drift, and backup and restore, with nothing written by hand."""
    copier(clone, "--data", "team=assessment", "templates/service", "services/quiz")
    commit(clone, "a new service, as stamped")
    port = free_port()
    repo = throwaway_environments(Repo(clone), "-tq", {"dev": {"LMS_GATEWAY_PORT": str(port)}})
    settings = repo.environments / "dev.yaml"
    data = yaml.safe_load(settings.read_text())
    data["backups"] = {"folder": str(tmp_path / "backups")}
    settings.write_text(yaml.safe_dump(data, sort_keys=False))
    items = f"http://127.0.0.1:{port}/quiz/items"
    try:
        deploy(Context(repo, docker, Reporter(), "offline"), "dev")
        model = resolve(repo, docker, "dev")
        built_images.append(str(model.document["services"]["quiz"]["image"]))
        status, item = call("POST", items, {"name": "Question 1", "details": "kept by the backup"})
        assert status == 201, item
        assert [d.line() for d in drift_of(docker, model)] == [], "quiz's schema is its migration head"
        (manifest,) = backup(repo, docker, "dev", ["quiz"], Reporter())
        assert (manifest.service, manifest.database, manifest.revision) == ("quiz", "quiz", "0001")
        assert call("DELETE", f"{items}/{item['id']}")[0] == 204
        restore(repo, docker, "dev", manifest.id, Reporter())
        assert call("GET", f"{items}/{item['id']}") == (200, item)
        # Its HTTP contract, as for catalog and enrollment: generated from its own OpenAPI, on PostgreSQL.
        contract = check_contract("quiz", f"http://127.0.0.1:{port}/quiz")
        print(contract.line())
        assert contract.operations > 0 and all(contract.cases.values()), contract.line()
        assert contract.failures == [], "\n\n".join(contract.failures)
    finally:
        down(repo, docker, "dev", True, Reporter())
