"""templates/service: the Copier template every Python service is stamped from.

Copier runs as its own program (the same `copier` a user types), located beside this Python or on
PATH. The template's hash-locked requirements live in templates/service/includes/ (one pair per
variant: with and without a database), compiled by `nox -s lock` exactly like a stamped
service's own locks, so a freshly stamped service builds hermetically with no lock step.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from lmsops.core import proc
from lmsops.core.errors import CommandError, ConfigError, PrerequisiteError
from lmsops.images.locks import lock_file
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter

TEMPLATE = Path("templates") / "service"
ANSWERS = ".copier-answers.yml"
# The name a variant is rendered under while its locks are compiled; replaced by the Jinja
# expression in the stored lock, so a stamped service's lock names its own files.
_PLACEHOLDER = "lmsopstemplatelock"
# includes/<prefix>requirements[-dev].lock, per value of the `database` answer.
LOCK_VARIANTS = {"db-": True, "": False}
# The last line copier prints when a validator refuses an answer given with --data.
_VALIDATION = re.compile(r"Validation error for question '(?P<question>[^']+)': (?P<message>.+)")


def template_dir(repo: Repo) -> Path:
    folder = repo.root / TEMPLATE
    if not (folder / "copier.yml").is_file():
        raise ConfigError(f"{TEMPLATE}/copier.yml: not found; the service template lives in {TEMPLATE}/")
    return folder


def copier_binary() -> str:
    found = proc.tool("copier")
    if not found:
        raise PrerequisiteError("copier is not installed; `pip install copier` (or run through nox, which installs it)")
    return found


def stamped_services(repo: Repo) -> list[str]:
    """Services with a Copier answers file: those the template's updates reach."""
    return sorted(path.parent.name for path in repo.services.glob(f"*/{ANSWERS}"))


def stamp(template: Path, destination: Path, answers: Mapping[str, object], cwd: Path) -> proc.Result:
    """`copier copy --defaults` with the given answers; raises CommandError with copier's message."""
    data = [arg for key, value in answers.items() for arg in ("--data", f"{key}={_answer(value)}")]
    # Relative to cwd where possible: copier records the path as given (_src_path of the answers).
    source = template.relative_to(cwd) if template.is_relative_to(cwd) else template
    return proc.run(
        [copier_binary(), "copy", "--quiet", "--defaults", *data, str(source), str(destination)],
        cwd=cwd,
        hint="copier refused the answers",
    )


def _answer(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def compile_template_locks(repo: Repo, report: Reporter) -> list[Path]:
    """Render each variant's requirements*.in beside the real libs/, lock them, store them as includes."""
    template = template_dir(repo)
    includes = template / "includes"
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="lmsops-template-lock-") as scratch:
        root = Path(scratch)
        (root / "libs").symlink_to(repo.libs)  # the -r ../../libs/... lines resolve as in services/
        for prefix, database in LOCK_VARIANTS.items():
            service = root / "services" / _PLACEHOLDER
            shutil.rmtree(service, ignore_errors=True)
            stamp(template, service, {"database": database}, cwd=root)
            for name in ("requirements", "requirements-dev"):
                stored = includes / f"{prefix}{name}.lock"
                target = service / f"{name}.lock"
                if stored.is_file():  # keep today's pins: only new or changed inputs move
                    target.write_text(stored.read_text().replace("{{ service_name }}", _PLACEHOLDER))
                lock_file(service / f"{name}.in", target, cwd=root)
                stored.write_text(target.read_text().replace(_PLACEHOLDER, "{{ service_name }}"))
                report.say(f"    {repo.display(stored)}: locked")
                written.append(stored)
    return written


def new_service(repo: Repo, name: str, settings: list[str]) -> Path:
    """`copier copy --defaults templates/service services/<name>` with KEY=VALUE answers, and
    copier's refusal of an answer reported as one line instead of its traceback."""
    template = template_dir(repo)
    data: dict[str, object] = {}
    for setting in settings:
        key, sep, value = setting.partition("=")
        if not sep or not key:
            raise ConfigError(f"{setting!r}: give answers as KEY=VALUE, e.g. team=assessment port=8010")
        data[key] = value
    destination = repo.services / name
    try:
        stamp(template, destination, data, cwd=repo.root)
    except CommandError as exc:
        refusal = _VALIDATION.search(exc.output)
        if refusal:
            raise ConfigError(f"{TEMPLATE}: {refusal['question']}: {refusal['message'].strip()}") from exc
        raise
    return destination
