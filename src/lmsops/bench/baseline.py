"""The catalog as issue 13 found it (one uvicorn worker, ORM reads, five round trips per page of
courses), built from its own commit, so the bench measures a page of courses against it side by side
on the same machine, in the same run: a fixed figure from another day would mostly measure the machine.

The commit is checked out in a temporary git worktree and built by that commit's own lmsops (its
Dockerfiles, locks and build code), then the worktree is removed. Its image serves the same database
schema as today's catalog, so it runs beside it on the same database and data.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from lmsops.core import gitinfo, proc
from lmsops.core.docker import Docker
from lmsops.core.errors import PrerequisiteError
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter
from lmsops.images.versions import load_versions

# The last commit before issue 13's work on the services (measured then: 183 req/s on a page of courses).
CATALOG_BASELINE_COMMIT = "ee0e43c608428dc63a5f5eed2d041674ee7d66f8"


def require_baseline_commit(repo: Repo, commit: str = CATALOG_BASELINE_COMMIT) -> None:
    """Checked before the bench builds or deploys anything: a shallow clone lacks the commit."""
    if not gitinfo.is_commit(repo.root, commit):
        raise PrerequisiteError(
            f"the bench builds the catalog of commit {commit[:10]} as its baseline, and this clone does not "
            "have it: fetch the full history (git fetch --unshallow), then bench again"
        )


def build_baseline_catalog(
    repo: Repo, docker: Docker, report: Reporter, commit: str = CATALOG_BASELINE_COMMIT
) -> Baseline:
    """Build the catalog image of commit with that commit's own tools; return it and every image
    tag the build added (removed after the bench: older bases included)."""
    report.say(f"==> bench: building the catalog of {commit[:10]} (the baseline of a page of courses)")
    before = set(docker.image_tags(f"{load_versions(repo).namespace}/*"))
    with tempfile.TemporaryDirectory(prefix="lmsops-bench-baseline-") as scratch:
        tree = Path(scratch) / "tree"
        gitinfo.git(repo.root, "worktree", "add", "--detach", "--quiet", str(tree), commit)
        try:
            own_tools = {"PYTHONPATH": str(tree / "src")}
            lmsops = [sys.executable, "-m", "lmsops"]
            proc.run([*lmsops, "build", "--offline", "catalog"], cwd=tree, env=own_tools, timeout=900)
            listed = proc.run([*lmsops, "images"], cwd=tree, env=own_tools).stdout
        finally:
            gitinfo.git(repo.root, "worktree", "remove", "--force", str(tree), check=False)
    added = sorted(set(docker.image_tags(f"{load_versions(repo).namespace}/*")) - before)
    return Baseline(catalog_reference(listed), added)


@dataclass(frozen=True)
class Baseline:
    catalog: str  # the baseline catalog's image reference
    added: list[str]  # the image tags its build added to the engine


def catalog_reference(images_listing: str) -> str:
    """The catalog's image reference in `lmsops images` output (NAME KIND BASE REFERENCE SIZE...)."""
    for line in images_listing.splitlines():
        fields = line.split()
        if fields[:1] == ["catalog"] and len(fields) >= 4:
            return fields[3]
    raise PrerequisiteError(f"no catalog image in the baseline's image list:\n{images_listing}")
