"""The conformance suite (tests/conformance) run on environments a test deployed: `--deployed-from`."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree


@dataclass(frozen=True)
class SuiteRun:
    counts: dict[str, int]  # tests, failures, errors, skipped: from pytest's own JUnit report
    cases: list[str]  # each test's name with its parameters, e.g. test_listens_on_the_declared_port[dev-catalog]

    def environments(self) -> set[str]:
        """The environments the cases checked (their ids start with ENV, or ENV-SERVICE...)."""
        return {case.partition("[")[2].rstrip("]").split("-")[0] for case in self.cases}


def run_conformance(root: Path, deployed_from: Path, report: Path, *options: str) -> SuiteRun:
    """The suite on what runs as deployed from deployed_from's environment files; fails the calling
    test with the suite's whole output when the suite fails or selects nothing."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/conformance", "--deployed-from", str(deployed_from), *options,
         "-q", "-p", "no:cacheprovider", f"--junitxml={report}"],
        cwd=root, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    suite = ElementTree.parse(report).getroot().find("testsuite")  # noqa: S314 - the report pytest just wrote
    assert suite is not None, report.read_text()
    counts = {key: int(suite.get(key, "0")) for key in ("tests", "failures", "errors", "skipped")}
    assert counts["tests"] > 0 and counts["failures"] == counts["errors"] == counts["skipped"] == 0, counts
    return SuiteRun(counts, [str(case.get("name", "")) for case in suite.iter("testcase")])
