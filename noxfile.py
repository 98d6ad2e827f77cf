"""lmsops sessions. Each one installs the pinned tools and calls the lmsops engine.

`nox` alone runs the test sessions (lint, unit, integration); `nox -l` lists them all.
The logic lives in the typed lmsops package (`python -m lmsops --help`), not here.
"""

from __future__ import annotations

import os
from pathlib import Path

import nox
from nox.command import CommandFailed

nox.needs_version = ">=2024.10.9"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_venv = "yes"
nox.options.error_on_missing_interpreters = True

# Each module a session's Python processes import is compiled once, into one cache outside the source
# tree. Where PYTHONDONTWRITEBYTECODE=1 is set (as on these CI machines) and with uv's venvs (no
# bytecode at install), each of the hundreds of processes a test run starts (`python -m lmsops`,
# copier, pytest workers) compiled everything it imported again: ~0.5 s of CPU per `python -m lmsops`.
os.environ["PYTHONPYCACHEPREFIX"] = str(Path(__file__).resolve().parent / ".nox" / "pycache")
os.environ["PYTHONDONTWRITEBYTECODE"] = ""  # empty: Python writes bytecode (to the prefix above)

DEV_LOCK = "requirements/dev.lock"
# The engine's coverage gate (lines, unit tests only): overall, and for the delicate logic (drift, convergence).
COVERAGE_OVERALL = "85"
COVERAGE_DELICATE = "90"
DELICATE = "*/lmsops/drift/*,*/lmsops/targets/swarm.py,*/lmsops/targets/compose.py,*/lmsops/core/swarmapi.py"
# Unit-test targets besides the engine: every library and service with a dev lock (discovered).
PACKAGES = sorted(str(p.parent) for p in Path().glob("*/*/requirements-dev.lock") if p.parts[0] in {"libs", "services"})


def install(session: nox.Session) -> None:
    """The hash-pinned tools, then lmsops itself (its dependencies are already in the lock)."""
    session.install("-r", DEV_LOCK)
    session.install("--no-deps", "-e", ".")


# The engine's exit codes that mean something to a caller (docs/environments.md): nox itself exits 1 for
# any failed session, so these are passed through as they are.
PASSED_THROUGH = {2: "configuration", 3: "prerequisites"}


def lmsops(session: nox.Session, *args: str, command_exit: bool = False) -> None:
    """`python -m lmsops ARGS... POSARGS...`; a configuration (2) or prerequisite (3) error ends nox with that code.

    command_exit: the session runs a user's command (exec, run), whose own exit code, whatever it is,
    reaches the shell, as `docker exec` and `docker run` pass it on."""
    install(session)
    try:
        session.run("python", "-m", "lmsops", *args, *session.posargs)
    except CommandFailed as failed:
        if command_exit and failed.return_code is not None and failed.return_code > 0:
            session.log(f"the command exited {failed.return_code}: nox exits with it")
            raise SystemExit(failed.return_code) from None
        if failed.return_code not in PASSED_THROUGH:
            raise
        session.log(f"lmsops exited {failed.return_code} ({PASSED_THROUGH[failed.return_code]}): nox exits with it")
        raise SystemExit(failed.return_code) from None


@nox.session(tags=["test"])
def lint(session: nox.Session) -> None:
    """Ruff, mypy and hadolint over every Dockerfile."""
    install(session)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")
    session.run("lint-imports")  # the engine's layers (docs/architecture.md)
    session.run("python", "-m", "lmsops", "hadolint")
    session.run("actionlint", "-no-color")


@nox.session(tags=["test"])
@nox.parametrize("target", ["engine", *PACKAGES])
def unit(session: nox.Session, target: str) -> None:
    """Unit tests without Docker: the engine, then each library and service (SQLite in-process)."""
    if target == "engine":
        install(session)
        # Spread over the cores (coverage roughly doubles the suite's time on one).
        session.run("pytest", "tests/unit", "-n", "auto", "--cov", "--cov-report=", *session.posargs)
        session.run("coverage", "report", f"--fail-under={COVERAGE_OVERALL}")
        session.run("coverage", "report", f"--include={DELICATE}", f"--fail-under={COVERAGE_DELICATE}")
        return
    session.install("-r", f"{target}/requirements-dev.lock")
    session.install("--no-deps", "-e", "libs/lms-runtime")
    session.chdir(target)
    locked = Path("requirements-dev.lock").read_text()
    # Over the cores where the target's tools include xdist (lms-runtime: its tests of real server
    # processes mostly wait on them).
    parallel = ("-n", "auto") if "pytest-xdist==" in locked else ()
    session.run("pytest", *parallel, *session.posargs)
    if "mypy" in locked:
        session.run("mypy")


@nox.session(tags=["test"])
def integration(session: nox.Session) -> None:
    """Integration tests against real containers (builds the images it needs)."""
    install(session)
    # Built here first so the build's progress shows; the tests' own fixtures then find them up to date.
    session.run("python", "-m", "lmsops", "build", "--offline")
    # Test files in parallel (-n): their time is spent in the engine and the containers. Each worker
    # deploys under its own names; the run prepares the swarm and registry once (tests/engine_state.py).
    parallel = ("-n", "3", "--dist", "loadfile")
    session.run("pytest", "tests/integration", *parallel, "--durations=15", *session.posargs)


@nox.session(default=False)
def quickstart(session: nox.Session) -> None:
    """The README's prerequisites and Quickstart in a fresh Debian 12 container (docs/development.md).

    Not part of the test sessions: it installs packages from Debian's mirror and PyPI inside the
    container, and the suite itself talks only to loopback and the project's own containers."""
    install(session)
    try:  # it deploys dev and staging by their real names: refused (exit 3) before anything if they exist
        session.run("python", "-m", "tests.quickstart.engine")
    except CommandFailed as failed:
        if failed.return_code not in PASSED_THROUGH:
            raise
        raise SystemExit(failed.return_code) from None
    session.run("python", "-m", "lmsops", "bootstrap", "--offline")  # the OS root is the fresh machine
    session.run("pytest", "tests/quickstart", "-s", "-p", "no:cacheprovider", *session.posargs)


ENVIRONMENTS = sorted(p.stem for p in Path("env").glob("*.yaml") if p.stem != "schema")


# Not among `nox`'s sessions: the integration session runs this same suite on the three environments
# it deploys side by side anyway (tests/integration/test_environments.py, `--deployed-from`), where a
# session of its own deployed all three once more (~2 minutes of a cold run). CI's matrix runs it per
# environment.
@nox.session(default=False, tags=["env"])
def conformance(session: nox.Session) -> None:
    """Declared == running for every service of each environment (-- ENV... [--changed-since REF] [--context NAME])."""
    install(session)
    session.run("python", "-m", "lmsops", "build", "--offline")
    envs, options = list(session.posargs), []
    # -- ENV... [--changed-since REF] [--context NAME]: options go to pytest, the rest are environments.
    for option in ("--changed-since", "--context"):
        if option in envs:
            at = envs.index(option)
            options += envs[at : at + 2]
            del envs[at : at + 2]
    if "--changed-since" in options:
        # Decided here, explicitly: a run that selects no test is never counted as a pass.
        ref = options[options.index("--changed-since") + 1]
        lookup = ("python", "-m", "lmsops", "images", "--changed-since", ref, "--services")
        affected = str(session.run(*lookup, silent=True)).split()
        if not affected:
            session.log(f"conformance: no service is affected by the changes since {ref}; nothing to check")
            return
        session.log(f"conformance: services affected since {ref}: {', '.join(affected)}")
    envs = envs or ENVIRONMENTS
    # One pytest run; with several environments each is deployed and checked by its own xdist worker,
    # side by side (their names and ports never meet), so the run takes as long as the slowest one.
    parallel = ("-n", str(len(envs))) if len(envs) > 1 else ()  # the grouping: tests/conformance/conftest.py
    session.log(f"conformance of {', '.join(envs)}")
    selected = [f"--env={env}" for env in envs]
    session.run("pytest", "tests/conformance", *selected, *parallel, "-p", "no:cacheprovider", *options)


@nox.session(default=False, tags=["env"])
def drift(session: nox.Session) -> None:
    """Compare what runs with what is declared; exit 1 on any difference (-- ENV)."""
    lmsops(session, "drift")


@nox.session(default=False)
def check(session: nox.Session) -> None:
    """Check that the Docker engine and Compose v2 are ready."""
    lmsops(session, "check")


@nox.session(default=False, tags=["images"])
def bootstrap(session: nox.Session) -> None:
    """Make the OS root image: pull by digest, or debootstrap (-- --offline)."""
    lmsops(session, "bootstrap")


@nox.session(default=False, tags=["images"])
def build(session: nox.Session) -> None:
    """Build base images, then every service, in dependency order (-- NAME... to pick)."""
    lmsops(session, "build")


@nox.session(default=False, tags=["env"])
def config(session: nox.Session) -> None:
    """Print the resolved, validated model of an environment (-- dev|staging|production)."""
    lmsops(session, "config")


@nox.session(default=False, tags=["env"])
def deploy(session: nox.Session) -> None:
    """Build once, deploy an environment, wait until healthy (-- ENV [--yes] [--init-swarm])."""
    lmsops(session, "deploy")


@nox.session(default=False, tags=["env"])
def status(session: nox.Session) -> None:
    """Show each service of an environment: replicas, health, image, revision (-- ENV)."""
    lmsops(session, "status")


@nox.session(default=False, tags=["env"])
def down(session: nox.Session) -> None:
    """Remove an environment; its volumes stay unless -- ENV --volumes."""
    lmsops(session, "down")


@nox.session(default=False, tags=["env", "data"])
def backup(session: nox.Session) -> None:
    """Back up each service's database of an environment (-- ENV [SERVICE...]): pg_dump and a manifest."""
    lmsops(session, "backup")


@nox.session(default=False, tags=["env", "data"])
def backups(session: nox.Session) -> None:
    """List the backups of an environment, newest first (-- ENV)."""
    lmsops(session, "backups")


@nox.session(default=False, tags=["env", "data"])
def restore(session: nox.Session) -> None:
    """Restore a service's database from a backup, then migrate it (-- ENV BACKUP [--yes] [--no-backup])."""
    lmsops(session, "restore")


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Image sizes and a no-op build, as ratios against baselines measured side by side."""
    lmsops(session, "bench")


@nox.session(default=False, tags=["env"])
def resilience(session: nox.Session) -> None:
    """Updates and faults under load on a throwaway copy of ENV: nox -s resilience -- ENV [SCENARIO...]."""
    lmsops(session, "resilience")


@nox.session(default=False)
def images(session: nox.Session) -> None:
    """List every image, the base it builds FROM, and its size."""
    lmsops(session, "images")


@nox.session(default=False, tags=["env"])
def publish(session: nox.Session) -> None:
    """Push this commit's images to the registries env/ deploys from; record their digests."""
    lmsops(session, "publish")


@nox.session(default=False)
def registry(session: nox.Session) -> None:
    """lmsops's local registry on loopback: -- up | down [--volumes]."""
    lmsops(session, "registry")


@nox.session(default=False)
def cluster(session: nox.Session) -> None:
    """A Swarm of Docker-in-Docker nodes on this machine: -- up [--nodes N] | down (context lmsops-cluster)."""
    lmsops(session, "cluster")


@nox.session(default=False, tags=["env"])
def promote(session: nox.Session) -> None:
    """Deploy to DESTINATION the digests running in SOURCE (-- staging production [--yes])."""
    lmsops(session, "promote")


@nox.session(default=False, tags=["env"])
def plan(session: nox.Session) -> None:
    """What a deploy would change, per service, without changing anything (-- ENV)."""
    lmsops(session, "plan")


@nox.session(default=False, tags=["env"])
def ps(session: nox.Session) -> None:
    """The tasks or containers of an environment's services (-- ENV)."""
    lmsops(session, "ps")


@nox.session(default=False, tags=["env"])
def logs(session: nox.Session) -> None:
    """The logs of an environment, or of one service (-- ENV [SERVICE] [--follow] [--since T])."""
    lmsops(session, "logs")


@nox.session(name="exec", default=False, tags=["env"])
def exec_(session: nox.Session) -> None:
    """Run a command in a running task of a service (-- ENV SERVICE -- CMD...)."""
    lmsops(session, "exec", command_exit=True)


@nox.session(default=False, tags=["env"])
def run(session: nox.Session) -> None:
    """A one-off task with a service's image, configuration and secrets, removed after (-- ENV SERVICE -- CMD...)."""
    lmsops(session, "run", command_exit=True)


@nox.session(default=False, tags=["env"])
def history(session: nox.Session) -> None:
    """The recorded releases of a Swarm environment (-- ENV): commit, config hash, digests, who, when."""
    lmsops(session, "history")


@nox.session(default=False, tags=["env"])
def rollback(session: nox.Session) -> None:
    """Redeploy the previous release of every service of an environment together (-- ENV [--yes])."""
    lmsops(session, "rollback")


@nox.session(default=False, tags=["images"])
def upgrade_base(session: nox.Session) -> None:
    """Upgrade a base (-- IMAGE VERSION [--package NAME]) or all (-- --all): rebuild, test, report."""
    lmsops(session, "upgrade-base")


@nox.session(default=False, tags=["images"])
def upgrade_major(session: nox.Session) -> None:
    """Move to another Debian suite (-- SUITE [--digest sha256:...]): every base, lock, service; tested, reported."""
    lmsops(session, "upgrade-major")


@nox.session(default=False, tags=["images"])
def sbom(session: nox.Session) -> None:
    """SBOMs of images (-- [IMAGE...|ENV] [--output DIR] [--find PACKAGE] [--json]); syft, CycloneDX JSON."""
    lmsops(session, "sbom")


@nox.session(default=False, tags=["images"])
def outdated(session: nox.Session) -> None:
    """Images built on an older base than versions.yaml declares; Debian updates for the bases."""
    lmsops(session, "outdated")


@nox.session(default=False)
def new_service(session: nox.Session) -> None:
    """Stamp services/NAME from templates/service: -- NAME [KEY=VALUE...] (copier copy --defaults)."""
    lmsops(session, "new-service")


@nox.session(default=False)
def update_services(session: nox.Session) -> None:
    """Bring every stamped service (-- NAME... for some) to the current templates/service."""
    lmsops(session, "update-services")


@nox.session(default=False)
def lock(session: nox.Session) -> None:
    """Recompile every hash-locked requirements file (-- FOLDER... for some services/libs only)."""
    lmsops(session, "lock")
