"""parse_yaml (libyaml) against PyYAML's pure-Python safe_load: the same documents; dump_yaml the same
text as before (libyaml's emitter is not used: it wraps long quoted strings elsewhere, which would change
a model's bytes and its config hash)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from lmsops.core import yamlfile
from lmsops.core.errors import ConfigError
from lmsops.core.yamlfile import dump_yaml, parse_yaml, read_yaml

ROOT = Path(__file__).resolve().parents[2]


def tracked_yaml_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "*.yaml", "*.yml"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    # Copier's templates are Jinja before they are YAML.
    return [ROOT / name for name in listed if not name.endswith(".jinja") and "{{" not in name]


def test_libyaml_is_what_runs_here() -> None:
    """The speed is the point: PyYAML's wheels for this platform carry libyaml."""
    assert yaml.__with_libyaml__
    assert yamlfile._LOADER.__name__ == "CSafeLoader"


def test_every_yaml_file_of_the_repository_reads_and_writes_as_with_the_pure_python_functions() -> None:
    files = tracked_yaml_files()
    assert len(files) >= 20, files  # env/, stacks/, base-images/, .github/, services' files
    for path in files:
        text = path.read_text(encoding="utf-8")
        document = yaml.safe_load(text)
        assert parse_yaml(text) == document, path
        assert dump_yaml(document) == yaml.safe_dump(document, sort_keys=True, default_flow_style=False), path
        unsorted = yaml.safe_dump(document, sort_keys=False, default_flow_style=False)
        assert dump_yaml(document, sort_keys=False) == unsorted, path


@pytest.mark.parametrize(
    "document",
    [
        {"text": "naïve café ✓", "quoted": "yes", "empty": "", "multi": "a\nb\n", "colon": "a: b", "n": 0.1},
        {"long": "x " * 80, "nested": [{"a": [1, 2, {"b": None}]}], "bools": [True, False], "date": "2026-11-28"},
    ],
)
def test_awkward_values_read_back_the_same(document: dict[str, object]) -> None:
    for unicode in (False, True):
        expected = yaml.safe_dump(document, sort_keys=True, default_flow_style=False, allow_unicode=unicode)
        assert dump_yaml(document, allow_unicode=unicode) == expected
        assert parse_yaml(expected) == document
        assert parse_yaml(yaml.dump(document, Dumper=yaml.CSafeDumper, allow_unicode=unicode)) == document


def test_a_syntax_error_still_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("services:\n  catalog: [unclosed\n")
    with pytest.raises(ConfigError, match=r"^env/bad\.yaml: line \d+: invalid YAML: "):
        read_yaml(path, "env/bad.yaml")
