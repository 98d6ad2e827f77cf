"""Renovate manages everything this repository pins (docs/dependencies.md).

- every `uses:` of a workflow is pinned to a full commit SHA with its tag as a comment;
- every hash-locked requirements file in the tree is matched by a Renovate manager that keeps its
  hashes right (deny by default: the files are found by their content, not listed by hand; IGNORED
  is the one list of exceptions);
- renovate.json is valid JSON and its OS-root manager reads base-images/versions.yaml's pair.

Each check returns its problems as lines naming the file, so the tests below run it on the real tree
and on broken copies, which it must refuse.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.conftest import PROJECT, write

ROOT = PROJECT.root

# Hash-locked files Renovate need not manage: path -> why. Empty: every lock of the tree is managed.
IGNORED: dict[str, str] = {}

# A line of a hash-locked requirements file (pip's hash-checking mode, as `uv pip compile --generate-hashes` writes it).
HASH_LINE = re.compile(r"^\s*--hash=sha256:[0-9a-f]{64}\b", re.MULTILINE)
# The managers that keep a lock's hashes right when they bump a pin: pip_requirements re-hashes the
# pin with hashin, pip-compile re-runs the compile command of the lock's header.
HASHING_MANAGERS = ("pip_requirements", "pip-compile")
# Renovate's `:ignoreModulesAndTests` preset, part of config:recommended (Renovate 44): files under these
# folders are never extracted, whatever the managers' patterns say.
PRESET_IGNORE_PATHS = (
    "**/node_modules/**",
    "**/bower_components/**",
    "**/vendor/**",
    "**/examples/**",
    "**/__tests__/**",
    "**/test/**",
    "**/tests/**",
    "**/__fixtures__/**",
)
# owner/repo[/path]@<40 hex> # <tag>: the tag stays readable and Renovate keeps both up to date.
PINNED_ACTION = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"^#\s*v?\d+(\.\d+)*\S*$")
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>[^\s#]+)\s*(?P<comment>#.*)?$")


# --- the checks ------------------------------------------------------------------------------------


def tree_files(root: Path) -> list[str]:
    """Every file of the work tree git knows or would add (tracked, and untracked but not ignored)."""
    listed = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        check=True,
        capture_output=True,
    ).stdout.decode()
    return sorted({name for name in listed.split("\0") if name and (root / name).is_file()})


def hash_locked_files(root: Path) -> list[str]:
    found = []
    for name in tree_files(root):
        try:
            text = (root / name).read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # binary files hold no requirements
        if HASH_LINE.search(text):
            found.append(name)
    return found


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A minimatch-style glob as Renovate's matchFileNames / ignorePaths use it: ** any folders, * one name."""
    out = ""
    for part in re.split(r"(\*\*/|\*\*|\*|\?)", pattern):
        out += {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(part, re.escape(part))
    return re.compile(f"^{out}$")


def file_pattern_matches(pattern: str, path: str) -> bool:
    """A managerFilePatterns entry: a /regex/ (searched, as Renovate does) or a glob."""
    if len(pattern) > 1 and pattern.startswith("/") and pattern.endswith("/"):
        return re.search(pattern[1:-1], path) is not None
    return glob_regex(pattern).match(path) is not None


def rule_disables(rule: dict[str, Any], manager: str, path: str) -> bool:
    """Whether a packageRule turns off every update of `path` by `manager` (rules narrowed to some
    packages, dependency types or other datasources leave the file managed)."""
    if rule.get("enabled") is not False:
        return False
    narrowing = {"matchPackageNames", "matchDepNames", "matchDepTypes", "matchUpdateTypes", "matchCurrentVersion"}
    if narrowing & rule.keys():
        return False
    if "matchManagers" in rule and manager not in rule["matchManagers"]:
        return False
    if "matchDatasources" in rule and "pypi" not in rule["matchDatasources"]:
        return False
    return all(glob_regex(glob).match(path) for glob in rule.get("matchFileNames", ["**"]))


def managing(config: dict[str, Any], path: str) -> list[str]:
    """The hashing managers of renovate.json whose own file patterns take `path`, and that nothing turns off."""
    ignore_paths = [*PRESET_IGNORE_PATHS, *config.get("ignorePaths", [])]
    if any(glob_regex(glob).match(path) for glob in ignore_paths):
        return []
    found = []
    for manager in HASHING_MANAGERS:
        settings = config.get(manager, {})
        if settings.get("enabled") is False or manager not in config.get("enabledManagers", [manager]):
            continue
        if not any(file_pattern_matches(p, path) for p in settings.get("managerFilePatterns", [])):
            continue
        if any(rule_disables(rule, manager, path) for rule in config.get("packageRules", [])):
            continue
        found.append(manager)
    return found


def unmanaged_locks(root: Path, config: dict[str, Any], ignored: dict[str, str]) -> list[str]:
    return [
        f"{path}: a hash-locked requirements file no Renovate manager of renovate.json keeps up to date; add it "
        f"to the managerFilePatterns of {' or '.join(HASHING_MANAGERS)} (or to IGNORED, with the reason)"
        for path in hash_locked_files(root)
        if path not in ignored and not managing(config, path)
    ]


def _uses_values(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "uses" and isinstance(value, str):
                yield value
            else:
                yield from _uses_values(value)
    elif isinstance(node, list):
        for item in node:
            yield from _uses_values(item)


def unpinned_uses(root: Path) -> list[str]:
    """Every `uses:` of .github/workflows and .github/actions that is not `x@<40 hex> # <tag>`."""
    problems = []
    github = root / ".github"
    files = sorted([*github.glob("workflows/*.y*ml"), *github.glob("actions/**/action.y*ml")])
    for path in files:
        name = path.relative_to(root).as_posix()
        text = path.read_text(encoding="utf-8")
        seen = 0
        for number, line in enumerate(text.splitlines(), start=1):
            found = USES_LINE.match(line)
            if not found:
                continue
            seen += 1
            ref, comment = found["ref"].strip("'\""), (found["comment"] or "").strip()
            if ref.startswith("./"):
                continue  # an action of this repository: pinned by the commit that runs it
            if ref.startswith("docker://"):
                if not re.search(r"@sha256:[0-9a-f]{64}$", ref):
                    problems.append(f"{name}:{number}: {ref}: pin the image by digest (docker://image@sha256:...)")
                continue
            if not PINNED_ACTION.match(ref):
                problems.append(f"{name}:{number}: {ref}: pin it to the full 40-hex commit SHA of its tag")
            elif not VERSION_COMMENT.match(comment):
                problems.append(f"{name}:{number}: {ref}: add the tag it pins as a comment, e.g. '# v5'")
        # A `uses` this line-based reading missed (flow style, a line broken after the key) is refused too.
        declared = len(list(_uses_values(yaml.safe_load(text))))
        if declared != seen:
            problems.append(f"{name}: {declared} `uses` in the YAML, {seen} on `uses: REF` lines; write one per line")
    return problems


def os_root_problems(config_text: str, versions_text: str) -> list[str]:
    """renovate.json parses, and one of its regex managers reads the OS root's reference and digest
    from versions.yaml exactly as versions.yaml declares them, for the docker datasource."""
    try:
        config = json.loads(config_text)
    except json.JSONDecodeError as exc:
        return [f"renovate.json: not valid JSON ({exc}); fix it (renovate-config-validator renovate.json)"]
    os_root = yaml.safe_load(versions_text)["os"]
    name, tag = str(os_root["reference"]).rsplit(":", 1)
    wanted = {"depName": name, "currentValue": tag, "currentDigest": os_root["digest"]}
    for manager in config.get("customManagers", []):
        if manager.get("customType") != "regex" or manager.get("datasourceTemplate") != "docker":
            continue
        patterns = manager.get("managerFilePatterns", [])
        if not any(file_pattern_matches(p, "base-images/versions.yaml") for p in patterns):
            continue
        for expression in manager.get("matchStrings", []):
            found = re.search(expression.replace("(?<", "(?P<"), versions_text)  # JavaScript's named groups
            if found and found.groupdict() == wanted:
                return []
    return [
        "renovate.json: no regex custom manager (docker datasource) reads base-images/versions.yaml's "
        "os.reference and os.digest; the OS root would no longer be kept pinned by digest"
    ]


# --- the real tree --------------------------------------------------------------------------------


def config() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((ROOT / "renovate.json").read_text())
    return loaded


def test_every_workflow_action_is_pinned_to_a_commit_with_its_tag() -> None:
    assert list((ROOT / ".github" / "workflows").glob("*.yml")), "no workflow found: the check would pass on nothing"
    assert unpinned_uses(ROOT) == []


def test_every_hash_locked_file_is_managed_by_renovate() -> None:
    locks = hash_locked_files(ROOT)
    # The tree's own locks are among them (the search finds something to check).
    assert "requirements/dev.lock" in locks and any(path.startswith("services/") for path in locks)
    assert unmanaged_locks(ROOT, config(), IGNORED) == []


def test_renovate_keeps_the_os_root_pinned_and_action_digests_pinned() -> None:
    text = (ROOT / "renovate.json").read_text()
    assert os_root_problems(text, (ROOT / "base-images" / "versions.yaml").read_text()) == []
    assert "helpers:pinGitHubActionDigests" in json.loads(text)["extends"]


def test_the_ignore_list_names_only_hash_locked_files_of_the_tree() -> None:
    stale = set(IGNORED) - set(hash_locked_files(ROOT))
    assert not stale, f"IGNORED names files that are not hash-locked files of the tree: {sorted(stale)}"


# --- the checks refuse what they must --------------------------------------------------------------

CHECKOUT = "actions/checkout@fbc6f3992d24b796d5a048ff273f7fcc4a7b6c09"


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        ("- uses: actions/checkout@v5", "ci.yml:4: actions/checkout@v5: pin it to the full 40-hex commit SHA"),
        (f"- uses: {CHECKOUT}", f"ci.yml:4: {CHECKOUT}: add the tag it pins as a comment"),
        (f"- uses: {CHECKOUT} # latest", f"ci.yml:4: {CHECKOUT}: add the tag it pins as a comment"),
        ("- uses: actions/checkout@fbc6f39 # v5", "ci.yml:4: actions/checkout@fbc6f39: pin it to the full 40-hex"),
        ("- uses: docker://alpine:3", "ci.yml:4: docker://alpine:3: pin the image by digest"),
        ("- {uses: actions/checkout@v5}", "ci.yml: 1 `uses` in the YAML, 0 on `uses: REF` lines"),
    ],
)
def test_unpinned_uses_are_refused(tmp_path: Path, step: str, expected: str) -> None:
    write(tmp_path / ".github" / "workflows" / "ci.yml", f"jobs:\n  a:\n    steps:\n      {step}\n")
    problems = unpinned_uses(tmp_path)
    assert len(problems) == 1 and problems[0].startswith(f".github/workflows/{expected}"), problems


def test_pinned_and_local_uses_pass(tmp_path: Path) -> None:
    steps = f"      - uses: {CHECKOUT} # v5\n      - uses: ./.github/actions/setup\n"
    write(tmp_path / ".github" / "workflows" / "ci.yml", f"jobs:\n  a:\n    steps:\n{steps}")
    assert unpinned_uses(tmp_path) == []


LOCK = "pkg==1.0 \\\n    --hash=sha256:" + "a" * 64 + "\n"


def git_tree(tmp_path: Path, files: dict[str, str]) -> Path:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    for name, text in files.items():
        write(tmp_path / name, text)
    return tmp_path


def test_a_lock_no_manager_matches_is_reported(tmp_path: Path) -> None:
    files = {"services/grades/requirements.lock": LOCK, "services/grades/pins.txt": LOCK, "x.in": "a\n"}
    tree = git_tree(tmp_path, files)
    managed = {"pip_requirements": {"managerFilePatterns": ["/(^|/)requirements[^/]*\\.lock$/"]}}
    problems = unmanaged_locks(tree, managed, {})
    assert [line.split(":")[0] for line in problems] == ["services/grades/pins.txt"]
    assert unmanaged_locks(tree, managed, {"services/grades/pins.txt": "a fixture"}) == []


@pytest.mark.parametrize(
    "broken",
    [
        {"pip_requirements": {"enabled": False, "managerFilePatterns": ["/\\.lock$/"]}},
        {"pip_requirements": {"managerFilePatterns": ["/\\.lock$/"]}, "enabledManagers": ["github-actions"]},
        {"pip_requirements": {"managerFilePatterns": ["/\\.lock$/"]}, "ignorePaths": ["services/**"]},
        {
            "pip_requirements": {"managerFilePatterns": ["/\\.lock$/"]},
            "packageRules": [{"matchFileNames": ["services/**"], "enabled": False}],
        },
        {"regex": {"managerFilePatterns": ["/\\.lock$/"]}},  # a manager that would leave the hashes stale
    ],
)
def test_a_lock_whose_manager_is_off_or_does_not_hash_is_reported(tmp_path: Path, broken: dict[str, Any]) -> None:
    tree = git_tree(tmp_path, {"services/grades/requirements.lock": LOCK})
    assert len(unmanaged_locks(tree, broken, {})) == 1


def test_a_lock_under_a_tests_folder_is_not_managed(tmp_path: Path) -> None:
    tree = git_tree(tmp_path, {"libs/x/tests/requirements.lock": LOCK})
    assert len(unmanaged_locks(tree, {"pip_requirements": {"managerFilePatterns": ["/\\.lock$/"]}}, {})) == 1


def test_renovate_json_that_is_not_json_or_lacks_the_os_root_manager_is_refused() -> None:
    versions = (ROOT / "base-images" / "versions.yaml").read_text()
    real = config()
    assert os_root_problems("{", versions)[0].startswith("renovate.json: not valid JSON")
    assert os_root_problems(json.dumps({**real, "customManagers": []}), versions)
    wrong_file = [{**manager, "managerFilePatterns": ["/^versions\\.yaml$/"]} for manager in real["customManagers"]]
    assert os_root_problems(json.dumps({**real, "customManagers": wrong_file}), versions)
    # A key between reference and digest: the manager could no longer update them together.
    apart = re.sub(r"(\n(\s*)digest:)", r"\n\2note: x\1", versions, count=1)
    assert apart != versions and os_root_problems(json.dumps(real), apart)
