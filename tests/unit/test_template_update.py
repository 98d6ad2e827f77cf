"""`nox -s update_services` (lmsops.templates.update) on a scratch monorepo with real git: which template
versions a service is updated from and to, what the update changes, keeps and refuses, and how the
result is reported.

The template is a small one of the test's own (copier runs cost seconds each). One test runs the real
copier's 3-way merge; the others answer copier with a stand-in that checks what lmsops prepared for it
(the service alone in a repository, answers pointing at the materialised template) and edits the files
as an update would.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from lmsops.core import proc
from lmsops.core.errors import ConfigError
from lmsops.core.paths import Repo
from lmsops.templates.update import ServiceUpdate, update_services
from tests.unit.conftest import write
from tests.unit.image_fakes import Call, FakeRunner, reply, reporter

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@t",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@t",
}
COPIER = "/opt/copier/bin/copier"
HEADER = "# Changes here will be overwritten by copier; never edit this file by hand.\n"
TEMPLATE = {
    "copier.yml": "_templates_suffix: .jinja\n_answers_file: .copier-answers.yml\n"
    "service_name:\n  type: str\ngreeting:\n  type: str\n  default: hello\n",
    "{{_copier_conf.answers_file}}.jinja": HEADER + "{{ _copier_answers | to_nice_yaml -}}\n",
    "README.md.jinja": "# {{ service_name }}\n\n{{ greeting }} from the template\n\nline 5\n",
    "app.py.jinja": 'NAME = "{{ service_name }}"\n\n\ndef main() -> None:\n    print(NAME)\n',
    "Dockerfile": "FROM python\nWORKDIR /srv\n",
    "old.txt": "to be removed\n",
    "tests/test_app.py.jinja": "from app import NAME\n\n\ndef test_name() -> None:\n"
    '    assert NAME == "{{ service_name }}"\n',
}
# What copier 9.19 leaves in a file where the service and the template changed the same line (inline mode).
CONFLICTED_README = """# quiz

<<<<<<< before updating
hello from quiz, by hand
=======
hello from the template, version 2
>>>>>>> after updating

line 5
"""


def git(repo: Repo, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=repo.root, check=True, capture_output=True, text=True, env={**os.environ, **GIT_IDENTITY}
    )
    return done.stdout.strip()


def commit(repo: Repo, message: str) -> str:
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def change_template(repo: Repo, message: str, files: dict[str, str | None]) -> str:
    """Edit templates/service (None removes a file) and commit it; the new commit."""
    for name, text in files.items():
        path = repo.root / "templates" / "service" / name
        if text is None:
            path.unlink()
        else:
            write(path, text)
    return commit(repo, message)


def stamp(repo: Repo, name: str, extra_answers: str = "") -> Path:
    """What `copier copy templates/service services/<name>` writes from the template as it is now."""
    folder = repo.services / name
    template = repo.root / "templates" / "service"
    for source in template.rglob("*"):
        if not source.is_file() or source.name in ("copier.yml", "{{_copier_conf.answers_file}}.jinja"):
            continue
        text = source.read_text().replace("{{ service_name }}", name).replace("{{ greeting }}", "hello")
        write(folder / str(source.relative_to(template)).removesuffix(".jinja"), text)
    answers = f"{extra_answers}_src_path: templates/service\ngreeting: hello\nservice_name: {name}\n"
    write(folder / ".copier-answers.yml", HEADER + answers)
    return folder


def make_monorepo(root: Path) -> Repo:
    """A repository with templates/service (version 1) and services/quiz stamped from it, committed."""
    repo = Repo(root)
    for name, text in TEMPLATE.items():
        write(repo.root / "templates" / "service" / name, text)
    write(repo.root / ".gitignore", "__pycache__/\n")
    git(repo, "init", "--quiet")
    commit(repo, "template version 1")
    stamp(repo, "quiz")
    commit(repo, "stamp quiz")
    return repo


@pytest.fixture
def monorepo(tmp_path: Path) -> Repo:
    return make_monorepo(tmp_path / "lms")


def answers(folder: Path) -> dict[str, object]:
    data = yaml.safe_load((folder / ".copier-answers.yml").read_text())
    assert isinstance(data, dict)
    return data


def by_service(results: list[ServiceUpdate]) -> dict[str, ServiceUpdate]:
    return {result.service: result for result in results}


def test_the_real_merge_brings_the_change_keeps_hand_edits_and_marks_conflicts(monorepo: Repo) -> None:
    """copier's own 3-way merge: the template's new HEALTHCHECK arrives, its removed file goes, a hand
    edit elsewhere stays, the line both changed is left between copier's markers and listed; ignored
    files in the service stay; the answers record the new template commit and templates/service."""
    quiz = monorepo.services / "quiz"
    readme = (quiz / "README.md").read_text()
    (quiz / "README.md").write_text(readme.replace("hello from the template", "hello from quiz, by hand"))
    (quiz / "app.py").write_text((quiz / "app.py").read_text() + '\n\nif __name__ == "__main__":\n    main()\n')
    commit(monorepo, "quiz: hand edits")
    old = git(monorepo, "log", "-1", "--format=%H", "--", "templates/service")
    write(quiz / "__pycache__" / "app.cpython-311.pyc", "cache")
    new = change_template(
        monorepo,
        "template version 2",
        {
            "README.md.jinja": TEMPLATE["README.md.jinja"].replace("from the template", "from the template, version 2"),
            "Dockerfile": TEMPLATE["Dockerfile"] + "HEALTHCHECK CMD true\n",
            "old.txt": None,
        },
    )
    report, out = reporter()

    [result] = update_services(monorepo, [], report)

    assert (result.service, result.outcome, result.ok) == ("quiz", "conflicts", False)
    assert (result.old, result.new) == (old[:12], new[:12])
    assert result.conflicts == ["README.md"]
    assert result.changed == [".copier-answers.yml", "Dockerfile", "README.md", "old.txt"]
    text = (quiz / "README.md").read_text()
    assert "<<<<<<< before updating\nhello from quiz, by hand\n=======\nhello from the template, version 2\n" in text
    assert (quiz / "app.py").read_text().endswith('if __name__ == "__main__":\n    main()\n')
    assert (quiz / "Dockerfile").read_text().endswith("HEALTHCHECK CMD true\n")
    assert not (quiz / "old.txt").exists()
    assert (quiz / "__pycache__" / "app.cpython-311.pyc").read_text() == "cache"
    assert (quiz / ".copier-answers.yml").read_text().startswith(HEADER)
    assert answers(quiz) == {
        "_commit": new,
        "_src_path": "templates/service",
        "greeting": "hello",
        "service_name": "quiz",
    }
    progress, *details = out.getvalue().splitlines()[1:]
    assert re.fullmatch(rf"    quiz: conflicts \({old[:12]} -> {new[:12]}\) in \d+\.\d s", progress)
    assert details == [
        "      changed: .copier-answers.yml, Dockerfile, README.md, old.txt",
        "      CONFLICTS (resolve, then commit): README.md",
    ]


@dataclass
class Seen:
    """What copier found prepared for it."""

    service: str
    argv: list[str]
    version: object  # the _commit of the isolated answers: the template tag the service is at
    files: list[str]
    clean: bool
    readmes: dict[str, str]  # tag -> README.md.jinja at that tag
    trees: dict[str, list[str]]  # tag -> the files of the template at that tag
    identity: dict[str, str | None]


def output(argv: list[str], cwd: Path) -> str:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=True).stdout


class Copier:
    """Stands in for `copier update`: notes what lmsops prepared, then edits the isolated service as
    an update would (README.md becomes `readme`, a .rej file when `reject`), or fails with `failure`."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.readme: str | None = None
        self.reject = False
        self.failure: str | None = None

    def __call__(self, call: Call) -> proc.Result | None:
        if call.argv[0] != COPIER:
            return None
        isolated = call.cwd
        assert isolated is not None
        recorded = answers(isolated)
        template = Path(str(recorded["_src_path"]))
        tags = output(["git", "tag"], template).split()
        self.seen.append(
            Seen(
                service=isolated.name,
                argv=call.argv,
                version=recorded["_commit"],
                files=sorted(str(p.relative_to(isolated)) for p in isolated.rglob("*") if ".git" not in p.parts),
                clean=output(["git", "status", "--porcelain"], isolated) == "",
                readmes={tag: output(["git", "show", f"{tag}:README.md.jinja"], template) for tag in tags},
                trees={tag: output(["git", "ls-tree", "-r", "--name-only", tag], template).split() for tag in tags},
                identity={key: (call.env or {}).get(key) for key in GIT_IDENTITY},
            )
        )
        if self.failure:
            (isolated / "README.md").write_text("half-written\n")
            return reply(call, 1, stderr=f"Traceback (most recent call last):\n  ...\n{self.failure}\n")
        if self.readme is not None:
            (isolated / "README.md").write_text(self.readme)
        if self.reject:
            write(isolated / "README.md.rej", "@@ -3 +3 @@\n-hello from the template\n+hello, version 2\n")
        return reply(call)


@pytest.fixture
def copier(monkeypatch: pytest.MonkeyPatch) -> Copier:
    monkeypatch.setattr(proc, "tool", lambda name: COPIER if name == "copier" else None)
    stand_in = Copier()
    FakeRunner(monkeypatch, stand_in)
    return stand_in


def test_copier_gets_the_service_alone_and_the_template_versions_as_tags(
    monkeypatch: pytest.MonkeyPatch, monorepo: Repo, copier: Copier
) -> None:
    """The service's committed files as a clean repository of their own, its answers pointing at a
    materialised template whose tags are the template's versions in history order; copier is asked
    to go from the service's version to the newest (rej mode here), with a git identity to commit with
    (the user's where set, lmsops's otherwise)."""
    for key in GIT_IDENTITY:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Ada Lovelace")
    v2 = TEMPLATE["README.md.jinja"].replace("from the template", "from the template, version 2")
    change_template(monorepo, "template version 2", {"README.md.jinja": v2, "old.txt": None})
    copier.readme = "# quiz\n\nhello from the template, version 2\n\nline 5\n"
    copier.reject = True
    quiz = monorepo.services / "quiz"

    [result] = update_services(monorepo, ["quiz"], reporter()[0], conflict="rej")

    [seen] = copier.seen
    assert seen.argv == [COPIER, "update", "--defaults", "--skip-tasks", "--conflict", "rej", "--vcs-ref", "2", "."]
    assert (seen.service, seen.version, seen.clean) == ("quiz", "1", True)
    assert seen.files == [
        ".copier-answers.yml", "Dockerfile", "README.md", "app.py", "old.txt", "tests", "tests/test_app.py",
    ]  # fmt: skip
    assert seen.readmes == {"1": TEMPLATE["README.md.jinja"], "2": v2}
    assert seen.trees == {"1": sorted(TEMPLATE), "2": sorted(set(TEMPLATE) - {"old.txt"})}
    assert seen.identity == {
        "GIT_AUTHOR_NAME": "Ada Lovelace",
        "GIT_AUTHOR_EMAIL": "lmsops@localhost",
        "GIT_COMMITTER_NAME": "lmsops",
        "GIT_COMMITTER_EMAIL": "lmsops@localhost",
    }
    assert (result.outcome, result.conflicts) == ("conflicts", ["README.md.rej"])
    assert (quiz / "README.md").read_text() == copier.readme
    assert answers(quiz)["_commit"] == git(monorepo, "rev-parse", "HEAD")
    assert answers(quiz)["_src_path"] == "templates/service"


def test_inline_conflicts_are_found_by_copiers_markers(monorepo: Repo, copier: Copier) -> None:
    """A file with copier's conflict markers is listed (and the outcome says conflicts); a marker quoted
    inside a line is not one, and lmsops's own scratch files (.lmsops/) are not looked at."""
    write(monorepo.root / ".gitignore", "__pycache__/\n.lmsops/\n")
    commit(monorepo, "ignore .lmsops/")
    v2 = TEMPLATE["README.md.jinja"].replace("from the template", "from the template, version 2")
    change_template(monorepo, "template version 2", {"README.md.jinja": v2})
    quiz = monorepo.services / "quiz"
    write(quiz / ".lmsops" / "notes.txt", "<<<<<<< before updating\n")
    app = quiz / "app.py"
    app.write_text(app.read_text() + "# copier marks conflicts with <<<<<<< before updating\n")
    commit(monorepo, "quiz: a comment")
    copier.readme = CONFLICTED_README

    [result] = update_services(monorepo, [], reporter()[0])

    assert (result.outcome, result.conflicts) == ("conflicts", ["README.md"])
    assert (quiz / "README.md").read_text() == CONFLICTED_README


def test_conflicts_are_found_in_a_repository_kept_under_a_lmsops_folder(tmp_path: Path, copier: Copier) -> None:
    monorepo = make_monorepo(tmp_path / ".lmsops" / "lms")
    v2 = TEMPLATE["README.md.jinja"].replace("from the template", "from the template, version 2")
    change_template(monorepo, "template version 2", {"README.md.jinja": v2})
    copier.readme = CONFLICTED_README
    [result] = update_services(monorepo, [], reporter()[0])
    assert (result.outcome, result.conflicts) == ("conflicts", ["README.md"])


def test_each_service_is_updated_from_its_own_version(monorepo: Repo, copier: Copier) -> None:
    """The version a service is at is the `_commit` its answers record; without a usable one (a plain
    `copier copy` records none, a rewritten history leaves a dangling one) the template as it was when
    the service was added. Every version involved is materialised once, oldest first."""
    v1 = git(monorepo, "log", "-1", "--format=%H", "--", "templates/service")
    stamp(monorepo, "exam", extra_answers="_commit: 0123456789abcdef0123456789abcdef01234567\n")
    commit(monorepo, "stamp exam (template version 1)")
    v2 = change_template(monorepo, "template version 2", {"Dockerfile": TEMPLATE["Dockerfile"] + "# v2\n"})
    quiz_answers = monorepo.services / "quiz" / ".copier-answers.yml"
    quiz_answers.write_text(quiz_answers.read_text().replace(HEADER, f"{HEADER}_commit: {v2}\n"))
    commit(monorepo, "quiz: updated to template version 2")
    change_template(monorepo, "template version 3", {"Dockerfile": TEMPLATE["Dockerfile"] + "# v3\n"})

    results = by_service(update_services(monorepo, [], reporter()[0]))

    assert [(seen.service, seen.version, seen.argv[-2]) for seen in copier.seen] == [
        ("exam", "1", "3"),
        ("quiz", "2", "3"),
    ]
    assert set(copier.seen[0].trees) == {"1", "2", "3"}
    assert {name: (result.outcome, result.old) for name, result in results.items()} == {
        "exam": ("updated", v1[:12]),
        "quiz": ("updated", v2[:12]),
    }


def test_a_service_at_the_templates_content_is_up_to_date(monorepo: Repo, copier: Copier) -> None:
    """A template change that was reverted leaves the template as the service was stamped from: nothing
    to merge, copier does not run, nothing changes."""
    first = git(monorepo, "log", "-1", "--format=%H", "--", "templates/service")
    change_template(monorepo, "template: try something", {"Dockerfile": "FROM python:3.12\n"})
    last = change_template(monorepo, "template: revert it", {"Dockerfile": TEMPLATE["Dockerfile"]})
    report, out = reporter()
    [result] = update_services(monorepo, [], report)
    assert (result.outcome, result.ok, result.changed) == ("up to date", True, [])
    assert copier.seen == []
    assert git(monorepo, "status", "--porcelain") == ""
    assert f"    quiz: up to date ({first[:12]} -> {last[:12]}) in" in out.getvalue()


def test_uncommitted_or_never_committed_services_are_skipped_untouched(monorepo: Repo, copier: Copier) -> None:
    """copier merges onto the committed service: a service with local changes, or one not committed at
    all (its template version is read from git), is skipped with what to do, and left as it is."""
    change_template(monorepo, "template version 2", {"Dockerfile": TEMPLATE["Dockerfile"] + "# v2\n"})
    readme = monorepo.services / "quiz" / "README.md"
    readme.write_text(readme.read_text() + "work in progress\n")
    stamp(monorepo, "exam")
    report, out = reporter()

    results = by_service(update_services(monorepo, [], report))

    assert results["quiz"].outcome == "skipped" and not results["quiz"].ok
    assert results["quiz"].note == "uncommitted changes in services/quiz; commit or stash them, then run again"
    assert results["exam"].outcome == "skipped"
    assert results["exam"].note == "commit services/exam first: its template version is read from git"
    assert copier.seen == []
    assert readme.read_text().endswith("line 5\nwork in progress\n")
    assert "      commit services/exam first: its template version is read from git" in out.getvalue()


def test_a_failed_copier_run_leaves_the_service_unchanged(monorepo: Repo, copier: Copier) -> None:
    """copier's failure is reported with its last line; what it wrote in the scratch copy never reaches
    services/quiz."""
    change_template(monorepo, "template version 2", {"Dockerfile": TEMPLATE["Dockerfile"] + "# v2\n"})
    copier.failure = "ValueError: Validation error for question 'greeting': must be a greeting"
    [result] = update_services(monorepo, [], reporter()[0])
    assert (result.outcome, result.ok) == ("failed", False)
    assert result.note == (
        "copier update failed; services/quiz is unchanged: "
        "ValueError: Validation error for question 'greeting': must be a greeting"
    )
    assert git(monorepo, "status", "--porcelain") == ""


def test_an_uncommitted_template_is_refused(monorepo: Repo, copier: Copier) -> None:
    """Each service records the template commit it was updated to: the template must be committed first."""
    write(monorepo.root / "templates" / "service" / "NEW.md", "draft\n")
    with pytest.raises(ConfigError, match=r"templates/service has uncommitted changes; commit them first"):
        update_services(monorepo, [], reporter()[0])
    assert copier.seen == []


def test_only_stamped_services_can_be_named(monorepo: Repo, copier: Copier) -> None:
    write(monorepo.services / "gateway" / "Dockerfile", "FROM nginx\n")
    with pytest.raises(ConfigError) as error:
        update_services(monorepo, ["quiz", "gateway"], reporter()[0])
    assert str(error.value) == (
        "services/gateway was not stamped from templates/service (no .copier-answers.yml); stamped services: quiz"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("_src_path: [unclosed\n", "cannot read the copier answers"),
        ("- a list\n", "the copier answers must be a mapping"),
    ],
)
def test_a_broken_answers_file_is_named(monorepo: Repo, copier: Copier, text: str, message: str) -> None:
    (monorepo.services / "quiz" / ".copier-answers.yml").write_text(text)
    commit(monorepo, "quiz: broken answers")
    refused = rf"(?s)services/quiz/\.copier-answers\.yml: {message}.*; restore it from git"
    with pytest.raises(ConfigError, match=refused):
        update_services(monorepo, ["quiz"], reporter()[0])
