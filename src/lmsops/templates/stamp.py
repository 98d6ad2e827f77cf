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
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter
from lmsops.core.yamlfile import read_yaml
from lmsops.core.yamlfile import did_you_mean
from lmsops.images.locks import lock_file

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


# A service name becomes a folder under services/, a DNS name, an image name and a database name.
SERVICE_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
RESERVED = {"gateway": "the platform's gateway", "postgres": "the platform's PostgreSQL"}
GATEWAY_PORT = 8080  # inside the network: every service is reached on its own port, the gateway on this one
FIRST_PORT = 8001
# Copier reads almost anything as a boolean ("maybe" is true); lmsops takes only these.
BOOLEANS = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False, "0": False}


def questions(template: Path) -> dict[str, str]:
    """The template's questions a user may answer, with their copier type (computed ones, `when: false`, excluded)."""
    document = read_yaml(template / "copier.yml", f"{TEMPLATE}/copier.yml")
    found: dict[str, str] = {}
    for key, spec in (document if isinstance(document, dict) else {}).items():
        if str(key).startswith("_"):
            continue
        details = spec if isinstance(spec, dict) else {}
        if details.get("when") is False:
            continue
        found[str(key)] = str(details.get("type", "str"))
    return found


def check_request(repo: Repo, template: Path, name: str, settings: list[str]) -> dict[str, object]:
    """Every problem of `new-service NAME KEY=VALUE...` before copier runs, each in one line naming the
    answer and what to do; the answers, typed, when there is none."""
    problems: list[str] = []
    if not SERVICE_NAME.fullmatch(name) or not 2 <= len(name) <= 30:
        problems.append(
            "NAME must be a plain service name: use 2-30 lowercase letters, digits and '-', starting with a "
            "letter (it becomes the folder services/NAME, a DNS name and an image name), e.g. quiz"
        )
    elif name in RESERVED:
        problems.append(f"{name!r} is reserved for {RESERVED[name]}; choose another name")
    elif (repo.services / name).exists():
        problems.append(
            f"services/{name} exists already; choose another name, or bring a stamped service up to date with "
            "`nox -s update_services`"
        )
    asked = questions(template)
    answers: dict[str, object] = {}
    for setting in settings:
        key, sep, value = setting.partition("=")
        if not sep or not key:
            problems.append(f"{setting!r}: give answers as KEY=VALUE, e.g. team=assessment port=8010")
        elif key in answers:
            problems.append(f"{key} is answered twice; give it once")
        elif key not in asked:
            problems.append(f"unknown answer {key!r}{did_you_mean(key, asked)}; the template asks {', '.join(asked)}")
        elif key == "service_name" and value != name:
            problems.append(
                f"service_name={value} differs from NAME {name!r}: the service name is its folder's; drop it"
            )
        elif (typed := _typed(key, value, asked[key], problems)) is not None:
            answers[key] = typed
    port = answers.get("port")
    if isinstance(port, int):
        # The template's validator refuses a port out of range, the gateway's, and one with a .port-<N>
        # file (it can list files, not read them); here: a port a service sets in its compose.yaml alone.
        taken = taken_ports(repo)
        unseen = {number: owner for number, owner in taken.items() if "LMS_PORT" in owner}
        if port in unseen:
            free = next(candidate for candidate in range(FIRST_PORT, 65536) if candidate not in taken)
            problems.append(f"port={port} is taken by {unseen[port]}; choose a free one, e.g. port={free}")
    if problems:
        raise ConfigError(
            f"new-service {name}: {problems[0]}"
            if len(problems) == 1
            else f"new-service {name}: {len(problems)} problems:\n" + "\n".join(f"  - {p}" for p in problems)
        )
    return answers


def _typed(key: str, value: str, kind: str, problems: list[str]) -> object | None:
    if kind == "int":
        if re.fullmatch(r"-?[0-9]+", value.strip()):
            return int(value)
        example = 8010 if key == "port" else 2
        problems.append(f"{key}={value!r} is not an integer; give a whole number, e.g. {key}={example}")
        return None
    if kind == "bool":
        if value.strip().lower() in BOOLEANS:
            return BOOLEANS[value.strip().lower()]
        problems.append(f"{key}={value!r} is not true or false; give {key}=true or {key}=false")
        return None
    return value


def taken_ports(repo: Repo) -> dict[int, str]:
    """Ports in use, and by what: the gateway's, each service's LMS_PORT and .port-<N> file."""
    taken = {GATEWAY_PORT: "the gateway"}
    for marker in sorted(repo.services.glob("*/.port-*")):
        number = marker.name.removeprefix(".port-")
        if number.isdigit():
            taken[int(number)] = f"the service {marker.parent.name!r} ({repo.display(marker)})"
    for fragment in sorted(repo.services.glob("*/compose.yaml")):
        document = read_yaml(fragment, repo.display(fragment))
        services = document.get("services") if isinstance(document, dict) else None
        definition = services.get(fragment.parent.name) if isinstance(services, dict) else None
        environment = definition.get("environment") if isinstance(definition, dict) else None
        value = str(environment.get("LMS_PORT", "")) if isinstance(environment, dict) else ""
        if value.isdigit():
            taken.setdefault(int(value), f"the service {fragment.parent.name!r} (LMS_PORT in {repo.display(fragment)})")
    return taken


def new_service(repo: Repo, name: str, settings: list[str]) -> Path:
    """`copier copy --defaults templates/service services/<name>` with KEY=VALUE answers: every answer
    checked first (name, keys, types, port), copier's own refusal reported as one line instead of its
    traceback, and nothing left behind when copier fails or is interrupted."""
    template = template_dir(repo)
    answers = check_request(repo, template, name, settings)
    destination = repo.services / name
    try:
        stamp(template, destination, {key: answers[key] for key in answers}, cwd=repo.root)
    except CommandError as exc:
        shutil.rmtree(destination, ignore_errors=True)
        refusal = _VALIDATION.search(exc.output)
        if refusal:
            raise ConfigError(f"{TEMPLATE}: {refusal['question']}: {refusal['message'].strip()}") from exc
        raise
    except BaseException:
        shutil.rmtree(destination, ignore_errors=True)
        raise
    return destination
