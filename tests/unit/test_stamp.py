"""Stamping services from templates/service (lmsops.templates.stamp): the copier command, copier's
refusal of an answer as one line, the stamped services found, and the template's own hash-locked
requirements compiled per variant. copier and uv are answered by FakeRunner (the integration tests
run the real copier on this template)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmsops.core import proc
from lmsops.core.errors import CommandError, ConfigError, PrerequisiteError
from lmsops.core.paths import Repo
from lmsops.templates.stamp import compile_template_locks, new_service, stamp, stamped_services, template_dir
from tests.unit.conftest import write
from tests.unit.image_fakes import Call, FakeRunner, reply, reporter

COPIER = "/opt/copier/bin/copier"
UV = "/opt/uv/bin/uv"
# The end of what copier 9.19 prints when a validator refuses an answer given with --data.
REFUSED = """Traceback (most recent call last):
  File "/venv/lib/python3.11/site-packages/copier/_user_data.py", line 472, in validate_answer
    raise ValueError(
ValueError: Validation error for question 'port': port 80 is out of range: use 1024-65535 (services run as a \
non-root user)
"""


@pytest.fixture
def tools(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(proc, "tool", {"copier": COPIER, "uv": UV}.get)


@pytest.fixture
def template(repo: Repo) -> Repo:
    """The scratch repository with a service template (its copier.yml is all lmsops looks for)."""
    write(repo.root / "templates" / "service" / "copier.yml", "service_name:\n  type: str\n")
    return repo


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
    FakeRunner(monkeypatch, lambda call: reply(call, 1, stderr=REFUSED) if call.argv[0] == COPIER else None)
    with pytest.raises(ConfigError) as error:
        new_service(template, "quiz", ["port=80"])
    assert str(error.value) == (
        "templates/service: port: port 80 is out of range: use 1024-65535 (services run as a non-root user)"
    )


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
