"""Stamping services from templates/service (lmsops.templates.stamp): the copier command, copier's
refusal of an answer as one line, the stamped services found, and the template's own hash-locked
requirements compiled per variant. copier and uv are answered by FakeRunner (the integration tests
run the real copier on this template)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmsops.cli import main
from lmsops.core import proc
from lmsops.core.errors import CommandError, ConfigError, PrerequisiteError
from lmsops.core.paths import Repo
from lmsops.templates.stamp import (
    TEMPLATE,
    compile_template_locks,
    new_service,
    questions,
    stamp,
    stamped_services,
    taken_ports,
    template_dir,
)
from tests.unit.conftest import PROJECT, write
from tests.unit.image_fakes import Call, FakeRunner, reply, reporter

COPIER = "/opt/copier/bin/copier"
UV = "/opt/uv/bin/uv"
# The end of what copier 9.19 prints when a validator refuses an answer given with --data.
REFUSED = """Traceback (most recent call last):
  File "/venv/lib/python3.11/site-packages/copier/_user_data.py", line 472, in validate_answer
    raise ValueError(
ValueError: Validation error for question 'team': 'Exams' is not a valid team name: lowercase letters, digits and \
'-', starting with a letter
"""


@pytest.fixture
def tools(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(proc, "tool", {"copier": COPIER, "uv": UV}.get)


@pytest.fixture
def template(repo: Repo) -> Repo:
    """The scratch repository with the service template's questions (its copier.yml is all lmsops reads)
    and a stamped service catalog on port 8001."""
    write(repo.root / "templates" / "service" / "copier.yml", (PROJECT.root / TEMPLATE / "copier.yml").read_text())
    write(repo.services / "catalog" / ".port-8001", "")
    write(
        repo.services / "catalog" / "compose.yaml", "services:\n  catalog:\n    environment:\n      LMS_PORT: '8001'\n"
    )
    write(
        repo.services / "enrollment" / "compose.yaml",
        "services:\n  enrollment:\n    environment:\n      LMS_PORT: 8002\n",
    )
    return repo


def tree(root: Path) -> dict[str, bytes]:
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def test_the_template_must_have_a_copier_yml(repo: Repo) -> None:
    with pytest.raises(ConfigError, match=r"templates/service/copier\.yml: not found; the service template lives in"):
        template_dir(repo)


def test_without_copier_the_install_is_named(monkeypatch: pytest.MonkeyPatch, template: Repo) -> None:
    monkeypatch.setattr(proc, "tool", lambda _name: None)
    with pytest.raises(PrerequisiteError, match=r"copier is not installed; `pip install copier`"):
        new_service(template, "quiz", [])


def test_stamped_services_are_those_with_an_answers_file(repo: Repo) -> None:
    """Only services stamped from the template (a .copier-answers.yml) are reached by its updates."""
    for name in ("quiz", "catalog"):
        write(repo.services / name / ".copier-answers.yml", "_src_path: templates/service\n")
    write(repo.services / "gateway" / "Dockerfile", "FROM x\n")
    assert stamped_services(repo) == ["catalog", "quiz"]


@pytest.mark.usefixtures("tools")
def test_new_service_runs_copier_from_the_root_with_the_answers(
    monkeypatch: pytest.MonkeyPatch, template: Repo
) -> None:
    """`copier copy --defaults` from the repository root, the template named relatively (copier records
    it as _src_path, which updates rely on), every KEY=VALUE as --data; the new folder is returned."""
    copier = FakeRunner(monkeypatch, lambda call: reply(call) if call.argv[0] == COPIER else None)
    folder = new_service(template, "quiz", ["team=exams", "description=Quizzes, a=b", "database=false"])
    assert folder == template.services / "quiz"
    [call] = copier.calls
    assert call.argv == [
        COPIER, "copy", "--quiet", "--defaults", "--data", "team=exams", "--data", "description=Quizzes, a=b",
        "--data", "database=false", "templates/service", str(template.services / "quiz"),
    ]  # fmt: skip
    assert call.cwd == template.root


@pytest.mark.parametrize("setting", ["team", "=exams"])
@pytest.mark.usefixtures("tools")
def test_an_answer_without_key_and_value_is_refused_before_copier_runs(
    monkeypatch: pytest.MonkeyPatch, template: Repo, setting: str
) -> None:
    copier = FakeRunner(monkeypatch, lambda call: reply(call) if call.argv[0] == COPIER else None)
    with pytest.raises(ConfigError, match=rf"'{setting}': give answers as KEY=VALUE, e\.g\. team=assessment port=8010"):
        new_service(template, "quiz", ["port=8010", setting])
    assert copier.calls == []


@pytest.mark.usefixtures("tools")
def test_a_refused_answer_is_one_line_naming_the_question(monkeypatch: pytest.MonkeyPatch, template: Repo) -> None:
    """copier's traceback is reduced to the validator's message, as a configuration error."""

    def refuse(call: Call) -> proc.Result | None:
        if call.argv[0] != COPIER:
            return None
        write(template.services / "quiz" / "half-written", "")  # whatever copier left is removed
        return reply(call, 1, stderr=REFUSED)

    FakeRunner(monkeypatch, refuse)
    with pytest.raises(ConfigError) as error:
        new_service(template, "quiz", ["team=Exams"])
    assert str(error.value) == (
        "templates/service: team: 'Exams' is not a valid team name: lowercase letters, digits and '-', starting "
        "with a letter"
    )
    assert not (template.services / "quiz").exists()


@pytest.mark.usefixtures("tools")
def test_any_other_copier_failure_is_raised_as_it_is(monkeypatch: pytest.MonkeyPatch, template: Repo) -> None:
    """Not a validator's refusal (a template error, say): copier's own output is kept, with the hint."""
    broken = "jinja2.exceptions.TemplateSyntaxError: unexpected '}'"
    FakeRunner(monkeypatch, lambda call: reply(call, 1, stderr=broken) if call.argv[0] == COPIER else None)
    with pytest.raises(CommandError, match=r"(?s)unexpected '}'.*copier refused the answers"):
        new_service(template, "quiz", [])


@pytest.mark.usefixtures("tools")
def test_stamp_names_a_template_outside_the_working_folder_absolutely(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Booleans are given as copier reads them (true/false); a template outside cwd keeps its full path."""
    copier = FakeRunner(monkeypatch, lambda call: reply(call) if call.argv[0] == COPIER else None)
    stamp(tmp_path / "template", tmp_path / "work" / "svc", {"database": True, "replicas": 2}, cwd=tmp_path / "work")
    assert copier.calls[0].argv[2:] == [
        "--quiet", "--defaults", "--data", "database=true", "--data", "replicas=2",
        str(tmp_path / "template"), str(tmp_path / "work" / "svc"),
    ]  # fmt: skip


class LockRun:
    """copier stamps a variant (its requirements*.in); uv notes the lock it was seeded with and writes a
    new one naming the service (as uv's header and `-e` lines do)."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self.seeded: dict[str, str | None] = {}
        self.stamped: list[list[str]] = []

    def __call__(self, call: Call) -> proc.Result | None:
        assert call.cwd is not None
        if call.argv[0] == COPIER:
            self.stamped.append(call.argv)
            service = Path(call.argv[-1])
            database = "database=true" in call.argv
            write(service / "requirements.in", "-r ../../libs/lms-runtime/requirements.in\n" + "psycopg\n" * database)
            write(service / "requirements-dev.in", "-c requirements.lock\npytest\n")
            return reply(call)
        if call.argv[0] == UV:
            assert (call.cwd / "libs").resolve() == self.repo.libs.resolve(), "libs/ resolves as from services/"
            source, target = call.argv[-3], call.cwd / call.argv[-1]
            database = "psycopg" in (call.cwd / source).with_name("requirements.in").read_text()
            self.seeded[f"{'db-' if database else ''}{Path(source).stem}"] = (
                target.read_text() if target.exists() else None
            )
            write(target, f"# uv pip compile {source}\n-e file:services/lmsopstemplatelock\nnew pins\n")
            return reply(call)
        return None


@pytest.mark.usefixtures("tools")
def test_template_locks_are_compiled_per_variant_keeping_todays_pins(
    monkeypatch: pytest.MonkeyPatch, template: Repo
) -> None:
    """Each variant (with and without a database) is stamped and its two .in files locked beside the real
    libs/; a stored lock seeds uv (today's pins move only where inputs changed), and the stored lock
    names the service by the Jinja expression, so a stamped service's lock names its own folder."""
    template.libs.mkdir()
    includes = template.root / "templates" / "service" / "includes"
    write(includes / "db-requirements.lock", "-e file:services/{{ service_name }}\nfastapi==0.115.0\n")
    answers = LockRun(template)
    uv = FakeRunner(monkeypatch, answers)
    report, out = reporter()

    written = compile_template_locks(template, report)

    names = ["db-requirements.lock", "db-requirements-dev.lock", "requirements.lock", "requirements-dev.lock"]
    assert written == [includes / name for name in names]
    assert answers.seeded == {
        "db-requirements": "-e file:services/lmsopstemplatelock\nfastapi==0.115.0\n",
        "db-requirements-dev": None,
        "requirements": None,
        "requirements-dev": None,
    }
    for path in written:
        assert path.read_text().endswith("-e file:services/{{ service_name }}\nnew pins\n"), path.name
        assert "lmsopstemplatelock" not in path.read_text()
    assert [argv[4:6] for argv in answers.stamped] == [["--data", "database=true"], ["--data", "database=false"]]
    assert all(argv[-2] == str(template.root / "templates" / "service") for argv in answers.stamped)
    assert [argv[-3] for argv in uv.argvs("uv")] == [
        "services/lmsopstemplatelock/requirements.in",
        "services/lmsopstemplatelock/requirements-dev.in",
    ] * 2
    assert out.getvalue().splitlines() == [f"    templates/service/includes/{name}: locked" for name in names]


# Each bad request of `nox -s new_service -- ...`: one line naming the answer and what to do, exit 2
# (ConfigError), before copier runs, nothing written.
BAD_REQUESTS = [
    (["quiz", "port=abc"], "new-service quiz: port='abc' is not an integer; give a whole number, e.g. port=8010"),
    (
        ["forum", "databse=false"],
        "new-service forum: unknown answer 'databse' (did you mean 'database'?); the template asks service_name, "
        "description, team, port, database, replicas_staging, replicas_production",
    ),
    (
        ["../evil"],
        "new-service ../evil: NAME must be a plain service name: use 2-30 lowercase letters, digits and '-', "
        "starting with a letter (it becomes the folder services/NAME, a DNS name and an image name), e.g. quiz",
    ),
    (["quiz", "port=8002"], "new-service quiz: port=8002 is taken by the service 'enrollment' "
     "(LMS_PORT in services/enrollment/compose.yaml); choose a free one, e.g. port=8003"),
    (["quiz", "database=maybe"], "new-service quiz: database='maybe' is not true or false; give database=true or "
     "database=false"),
    (["quiz", "replicas_staging=two"], "new-service quiz: replicas_staging='two' is not an integer; give a whole "
     "number, e.g. replicas_staging=2"),
    (["quiz", "team=a", "team=b"], "new-service quiz: team is answered twice; give it once"),
    (["quiz", "service_name=other"], "new-service quiz: service_name=other differs from NAME 'quiz': the service "
     "name is its folder's; drop it"),
    (["quiz", "database_name=x"], "new-service quiz: unknown answer 'database_name' (did you mean 'database'?); the "
     "template asks service_name, description, team, port, database, replicas_staging, replicas_production"),
    (["catalog"], "new-service catalog: services/catalog exists already; choose another name, or bring a stamped "
     "service up to date with `nox -s update_services`"),
    (["gateway"], "new-service gateway: 'gateway' is reserved for the platform's gateway; choose another name"),
    (["Quiz"], "new-service Quiz: NAME must be a plain service name: use 2-30 lowercase letters, digits and '-', "
     "starting with a letter (it becomes the folder services/NAME, a DNS name and an image name), e.g. quiz"),
    (["quiz", "prot=8010", "database=perhaps"], "new-service quiz: 2 problems:\n"
     "  - unknown answer 'prot' (did you mean 'port'?); the template asks service_name, description, team, port, "
     "database, replicas_staging, replicas_production\n"
     "  - database='perhaps' is not true or false; give database=true or database=false"),
]  # fmt: skip


@pytest.mark.parametrize(("argv", "message"), BAD_REQUESTS)
@pytest.mark.usefixtures("tools")
def test_each_bad_request_is_one_line_exit_2_and_nothing_changes(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    template: Repo,
    argv: list[str],
    message: str,
) -> None:
    copier = FakeRunner(monkeypatch, lambda call: reply(call) if call.argv[0] == COPIER else None)
    monkeypatch.setenv("LMSOPS_ROOT", str(template.root))
    before = tree(template.root)
    assert main(["new-service", *argv]) == 2
    assert capsys.readouterr().err == f"lmsops: error: {message}\n"
    assert copier.calls == []
    assert tree(template.root) == before, "nothing written (services/../evil would be in the root)"


@pytest.mark.usefixtures("tools")
def test_answers_are_typed_as_the_template_asks(monkeypatch: pytest.MonkeyPatch, template: Repo) -> None:
    """Booleans in any of the usual spellings go to copier as true/false; integers as integers."""
    copier = FakeRunner(monkeypatch, lambda call: reply(call) if call.argv[0] == COPIER else None)
    new_service(template, "quiz", ["database=No", "port=8003", "replicas_staging=3", "team=exams"])
    assert copier.calls[0].argv[4:12] == [
        "--data", "database=false", "--data", "port=8003", "--data", "replicas_staging=3", "--data", "team=exams",
    ]  # fmt: skip


@pytest.mark.usefixtures("tools")
def test_an_interrupted_copier_leaves_no_half_stamped_service(monkeypatch: pytest.MonkeyPatch, template: Repo) -> None:
    def interrupted(call: Call) -> proc.Result | None:
        if call.argv[0] != COPIER:
            return None
        write(template.services / "quiz" / "Dockerfile", "FROM x\n")
        raise KeyboardInterrupt

    FakeRunner(monkeypatch, interrupted)
    with pytest.raises(KeyboardInterrupt):
        new_service(template, "quiz", [])
    assert not (template.services / "quiz").exists()


@pytest.mark.usefixtures("tools")
def test_ports_the_template_sees_are_left_to_its_validator(monkeypatch: pytest.MonkeyPatch, template: Repo) -> None:
    """A .port-<N> file, the gateway's port, a port out of range: templates/service/copier.yml refuses them
    (tests/unit/test_stamp_validators.py), so copier is asked and its one-line refusal reported."""
    copier = FakeRunner(monkeypatch, lambda call: reply(call) if call.argv[0] == COPIER else None)
    for port in ("8001", "8080", "80"):
        new_service(template, f"quiz{port}", [f"port={port}"])
    assert [call.argv[5] for call in copier.calls] == ["port=8001", "port=8080", "port=80"]


def test_taken_ports_name_their_owner(template: Repo) -> None:
    assert taken_ports(template) == {
        8080: "the gateway",
        8001: "the service 'catalog' (services/catalog/.port-8001)",
        8002: "the service 'enrollment' (LMS_PORT in services/enrollment/compose.yaml)",
    }


def test_the_template_validator_knows_every_question() -> None:
    """copier.yml's first validator lists the questions (Jinja cannot read copier.yml): the same list."""
    template = PROJECT.root / TEMPLATE
    asked = list(questions(template))
    assert asked == ["service_name", "description", "team", "port", "database", "replicas_staging",
                     "replicas_production"]  # fmt: skip
    assert f"{{%- set asked = {asked!r} -%}}" in (template / "copier.yml").read_text()
