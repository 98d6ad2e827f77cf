"""The template's own answer validation (templates/service/copier.yml), with the real copier: `copier
copy` typed by hand refuses what `nox -s new_service` refuses, before anything is written. (No Docker:
copier only renders files; a refused answer stops it before the first one. Its Python API, which its
command line calls, runs in this process: a copier process per case would cost a second each.)"""

from __future__ import annotations

import shutil
from pathlib import Path

import copier
import pytest

from lmsops.templates.stamp import TEMPLATE
from tests.unit.conftest import PROJECT, write

ASKS = "the template asks service_name, description, team, port, database, replicas_staging, replicas_production"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A repository with the template and one stamped service, catalog on port 8001."""
    repo = tmp_path / "repo"
    shutil.copytree(PROJECT.root / TEMPLATE, repo / TEMPLATE, ignore=shutil.ignore_patterns("__pycache__"))
    write(repo / "services" / "catalog" / ".port-8001", "")
    write(repo / "services" / "catalog" / "compose.yaml", "services:\n  catalog: {}\n")
    return repo


def tree(root: Path) -> dict[str, bytes]:
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def stamp(root: Path, destination: str, *answers: str) -> None:
    """`copier copy --quiet --defaults --data KEY=VALUE... templates/service DESTINATION` from root."""
    data = dict(answer.split("=", 1) for answer in answers)
    copier.run_copy(str(root / TEMPLATE), str(root / destination), data=data, defaults=True, quiet=True)


@pytest.mark.parametrize(
    ("destination", "answers", "message"),
    [
        ("services/quiz", ["port=abc"], "port='abc' is not an integer; give a whole number, e.g. port=8010"),
        ("services/forum", ["databse=false"], f"unknown answer 'databse' (did you mean 'database'?); {ASKS}"),
        ("services/forum", ["database=maybe"], "database='maybe' is not true or false; give database=true or "
         "database=false"),
        ("services/quiz", ["replicas_staging=x"], "replicas_staging='x' is not an integer; give a whole number, "
         "e.g. replicas_staging=2"),
        ("../evil", [], "a service is stamped into the services/ folder of the repository: `copier copy "
         "templates/service services/evil`"),
        ("services/quiz", ["port=8001"], "port 8001 is already used by the service 'catalog' "
         "(services/catalog/.port-8001); choose another port"),
        ("services/catalog", [], "'catalog' is already a service (services/catalog/compose.yaml exists)"),
    ],
)  # fmt: skip
def test_copier_by_hand_refuses_what_new_service_refuses(
    root: Path, destination: str, answers: list[str], message: str
) -> None:
    before = tree(root.parent)
    with pytest.raises(ValueError, match=r"^Validation error for question '(service_name|port)': ") as refused:
        stamp(root, destination, *answers)
    assert message in str(refused.value)
    assert tree(root.parent) == before, "nothing written, also outside services/"


def test_good_answers_still_stamp(root: Path) -> None:
    stamp(root, "services/forum", "database=false", "port=8002")
    answers = (root / "services" / "forum" / ".copier-answers.yml").read_text()
    assert "database: false" in answers and "port: 8002" in answers
    assert (root / "services" / "forum" / ".port-8002").is_file()
