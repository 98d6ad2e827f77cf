"""Which images a change affects: `nox -s build -- --changed-since REF`.

An image is changed when a file among its inputs differs from REF (committed since, or not
committed yet), or when its entry in base-images/versions.yaml does; everything built FROM a
changed image is affected too (a change in the python base means every Python service, a change
in one service means that service only). The graph comes from the Dockerfiles, as for the build.
"""

from __future__ import annotations

from pathlib import Path

from lmsops.core.errors import ConfigError
from lmsops.core.gitinfo import git, is_commit
from lmsops.core.paths import MARKER, Repo
from lmsops.core.yamlfile import parse_yaml
from lmsops.images.discovery import discover
from lmsops.images.versions import OS_NAME, Versions


def changed_files(repo: Repo, ref: str) -> set[str]:
    """Paths (relative to the root) that differ from ref in the working tree, untracked ones too."""
    if not is_commit(repo.root, ref):
        raise ConfigError(f"--changed-since {ref}: no such commit in this repository (a branch, tag or sha)")
    differ = git(repo.root, "diff", "--name-only", "--no-renames", ref, "--").stdout.split("\n")
    untracked = git(repo.root, "ls-files", "--others", "--exclude-standard").stdout.split("\n")
    return {path for path in [*differ, *untracked] if path}


def _entries_at(repo: Repo, ref: str) -> dict[str, object]:
    """Each base's entry of versions.yaml at ref ('os' for the OS root); empty if it did not exist."""
    shown = git(repo.root, "show", f"{ref}:{MARKER}", check=False)
    data = parse_yaml(shown.stdout) if shown.returncode == 0 else None
    if not isinstance(data, dict):
        return {}
    entries: dict[str, object] = {OS_NAME: data.get("os"), "namespace": data.get("namespace")}
    images = data.get("images")
    if isinstance(images, dict):
        entries |= {str(name): entry for name, entry in images.items()}
    return entries


def affected_images(repo: Repo, versions: Versions, ref: str) -> list[str]:
    """Names of the images to rebuild since ref, in build order."""
    specs = discover(repo, versions)
    files = changed_files(repo, ref)
    before = _entries_at(repo, ref)
    now: dict[str, object] = {OS_NAME: versions.os.model_dump(mode="json"), "namespace": versions.namespace}
    now |= {name: entry.model_dump(mode="json", exclude_defaults=True) for name, entry in versions.images.items()}
    if before.get("namespace", "lmsops") != now["namespace"]:
        return [spec.name for spec in specs]  # every reference changes

    def entry_changed(name: str) -> bool:
        old = before.get(name)
        if isinstance(old, dict) and name != OS_NAME:
            old = {key: value for key, value in old.items() if value not in (None, [], "")}
        current = now.get(name)
        if isinstance(current, dict):
            current = {key: value for key, value in current.items() if value not in (None, [], "")}
        return old != current

    os_changed = entry_changed(OS_NAME) or any(_under(path, repo.base_images / OS_NAME, repo) for path in files)
    changed = {OS_NAME} if os_changed else set()
    for spec in specs:  # build order: parents are decided before their children
        own = any(_under(path, folder, repo) for path in files for folder in spec.inputs)
        if own or (spec.kind == "base" and entry_changed(spec.name)) or changed & set(spec.parents):
            changed.add(spec.name)
    return [spec.name for spec in specs if spec.name in changed]


def _under(path: str, folder: Path, repo: Repo) -> bool:
    relative = repo.display(folder)
    return path == relative or path.startswith(relative.rstrip("/") + "/")
