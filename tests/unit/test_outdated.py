"""`nox -s outdated` (lmsops.images.outdated): which images are built on an older base than
versions.yaml declares, and which Debian updates wait for the OS root and the bases.

Images are built by ImageDocker; the container that asks the Debian mirror is answered from
ImageDocker.newer (what the mirror has), the way outdated's script answers.
"""

from __future__ import annotations

import pytest

from lmsops.core.errors import CommandError
from lmsops.core.paths import Repo
from lmsops.images.build import build
from lmsops.images.outdated import _CANDIDATES, DebianUpdate, OutdatedReport, outdated, render
from lmsops.images.versions_edit import BaseChange, apply
from tests.unit.conftest import write
from tests.unit.image_fakes import ImageDocker, add_service, fake_os_root, os_packages, reporter


@pytest.fixture
def docker(monkeypatch: pytest.MonkeyPatch) -> ImageDocker:
    fake = ImageDocker()
    fake_os_root(monkeypatch, fake)
    return fake


@pytest.fixture
def built(repo: Repo, docker: ImageDocker) -> Repo:
    """Bases (python with the extra package less), catalog on python, gateway on the OS root: all built."""
    apply(repo, [BaseChange("python", "3.11-1", ["less"])])
    add_service(repo, "catalog", "python")
    add_service(repo, "gateway", "os")
    build(repo, docker, reporter()[0])
    return repo


def statuses(report: OutdatedReport) -> dict[str, str]:
    return {image.name: image.status for image in report.images}


def test_after_a_build_everything_is_current(built: Repo, docker: ImageDocker) -> None:
    """Every image is built on the declared base and nothing waits in Debian: nothing to do."""
    report = outdated(built, docker)
    assert statuses(report) == dict.fromkeys(["python", "python-build", "postgres", "catalog", "gateway"], "current")
    catalog = next(image for image in report.images if image.name == "catalog")
    assert (catalog.base, catalog.declared, catalog.built_on) == ("python", "3.11-1", "3.11-1")
    assert report.updates == {name: [] for name in ("os", "python", "python-build", "postgres")}
    assert not report.action_needed
    lines = render(report)
    assert lines[0].split() == ["IMAGE", "BUILDS", "ON", "DECLARED", "BUILT", "ON", "STATUS"]
    assert [line.split() for line in lines[1:6]] == [
        ["python", "os", "12-1", "12-1", "current"],
        ["python-build", "python", "3.11-1", "3.11-1", "current"],
        ["postgres", "os", "12-1", "12-1", "current"],
        ["catalog", "python", "3.11-1", "3.11-1", "current"],
        ["gateway", "os", "12-1", "12-1", "current"],
    ]
    assert lines[-4:] == [
        f"{name}: Debian packages up to date" for name in ("os", "python", "python-build", "postgres")
    ]


def test_a_new_base_version_makes_it_and_what_builds_on_it_outdated(built: Repo, docker: ImageDocker) -> None:
    """versions.yaml declares python 3.11-2, nothing rebuilt yet: the images on python say which version
    they are built on and what to run; python itself has new inputs; the rest stays current."""
    apply(built, [BaseChange("python", "3.11-2")])
    report = outdated(built, docker, check_debian=False)
    on_old = "OUTDATED: built on python 3.11-1, versions.yaml declares 3.11-2: nox -s build"
    assert statuses(report) == {
        "python": "OUTDATED: its own inputs changed since it was built: nox -s build",
        "python-build": on_old,
        "postgres": "current",
        "catalog": on_old,
        "gateway": "current",
    }
    catalog = next(image for image in report.images if image.name == "catalog")
    assert (catalog.declared, catalog.built_on) == ("3.11-2", "3.11-1")
    assert catalog.reference.startswith("lmsops/catalog:0.0.0-"), "the newest local build is the one looked at"
    assert report.action_needed


def test_an_image_on_another_build_of_its_base_is_outdated(built: Repo, docker: ImageDocker) -> None:
    """python rebuilt from changed files at the same version: catalog still runs on the previous build."""
    write(built.base_images / "python" / "motd", "a changed input\n")
    build(built, docker, reporter()[0], names=["python"])
    report = outdated(built, docker, check_debian=False)
    assert statuses(report)["python"] == "current"
    assert statuses(report)["catalog"] == "OUTDATED: built on another build of python 3.11-1: nox -s build"


def test_a_service_changed_since_its_build_is_outdated(built: Repo, docker: ImageDocker) -> None:
    write(built.services / "catalog" / "app" / "main.py", "print('changed')\n")
    report = outdated(built, docker, check_debian=False)
    assert statuses(report)["catalog"] == "OUTDATED: its own inputs changed since it was built: nox -s build"
    assert [image.name for image in report.images if image.outdated] == ["catalog"]


def test_images_never_built_say_so(repo: Repo) -> None:
    add_service(repo, "catalog", "python")
    report = outdated(repo, ImageDocker(), check_debian=False)
    assert {(image.name, image.built_on, image.reference, image.status) for image in report.images} == {
        (name, "-", "-", "not built: nox -s build") for name in ("python", "python-build", "postgres", "catalog")
    }
    assert report.action_needed


def test_debian_updates_are_listed_per_base_with_security_fixes_counted(built: Repo, docker: ImageDocker) -> None:
    """One container from the OS root, on the bridge network, is given every installed package once and
    asks the suite, -updates and -security; each base lists the updates of the packages it holds."""
    docker.newer = {
        "libssl3": ("3.0.15-1~deb12u1", "bookworm-security/main"),
        "base-files": ("12.4+deb12u6", "bookworm-updates/main"),
        "less": ("1.1", "bookworm/main"),
    }
    report = outdated(built, docker)

    [asked] = [run for run in docker.runs if run["entrypoint"] == "sh"]
    assert (asked["image"], asked["network"]) == ("debian:bookworm-slim", "bridge")
    assert asked["args"] == [
        "-c", _CANDIDATES, "lmsops-outdated", "http://deb.debian.org/debian", "bookworm",
        "http://deb.debian.org/debian-security",
    ]  # fmt: skip
    updates = {name: [(u.package, u.candidate, u.security) for u in found] for name, found in report.updates.items()}
    os_updates = [("base-files", "12.4+deb12u6", False), ("libssl3", "3.0.15-1~deb12u1", True)]
    assert updates == {
        "os": os_updates,
        "python": [os_updates[0], ("less", "1.1", False), os_updates[1]],
        "python-build": [os_updates[0], ("less", "1.1", False), os_updates[1]],
        "postgres": os_updates,
    }
    assert all(image.status == "current" for image in report.images) and report.action_needed
    lines = render(report)
    at = lines.index("python: 3 Debian updates, 1 security: nox -s upgrade_base -- --all")
    assert lines[at + 1 : at + 4] == [
        "    base-files 12.4+deb12u5 -> 12.4+deb12u6 (bookworm-updates/main)",
        "    less 1.0 -> 1.1 (bookworm/main)",
        f"    libssl3 {os_packages('12-1')['libssl3']} -> 3.0.15-1~deb12u1 (bookworm-security/main, security)",
    ]


def test_a_base_not_built_as_declared_is_not_called_up_to_date(built: Repo, docker: ImageDocker) -> None:
    apply(built, [BaseChange("python", "3.11-2")])
    docker.newer = {"libssl3": ("3.0.15-1~deb12u1", "bookworm-security/main")}
    lines = render(outdated(built, docker))
    assert "postgres: 1 Debian update, 1 security: nox -s upgrade_base -- --all" in lines
    assert "python: Debian packages up to date" not in lines


def test_each_installed_package_is_asked_about_once(built: Repo, docker: ImageDocker) -> None:
    """The bases share most packages with the OS root: the mirror is asked about each (name, version) once."""
    outdated(built, docker)
    [asked] = [run for run in docker.runs if run["entrypoint"] == "sh"]
    installed = sorted({f"{name} {version}" for name, version in {**os_packages("12-1"), "less": "1.0"}.items()})
    assert docker.asked == [("\n".join(installed) + "\n").encode()]
    assert asked["image"] == "debian:bookworm-slim"


def test_an_unreachable_mirror_is_an_error_naming_it(built: Repo, docker: ImageDocker) -> None:
    docker.mirror_failure = "E: Failed to fetch http://deb.debian.org/debian/dists/bookworm/InRelease"
    with pytest.raises(CommandError, match=r"(?s)Failed to fetch.*cannot read http://deb\.debian\.org/debian from a"):
        outdated(built, docker)


def test_no_debian_reads_the_labels_only(built: Repo, docker: ImageDocker) -> None:
    """--no-debian starts no container and says the Debian check was skipped."""
    report = outdated(built, docker, check_debian=False)
    assert docker.runs == [] and not report.debian_checked
    assert render(report)[-1] == "Debian updates: not checked (--no-debian)"


@pytest.mark.parametrize(
    ("suite", "security"),
    [("bookworm-security/main", True), ("bookworm-security", True), ("bookworm-updates/main", False), ("", False)],
)
def test_a_security_update_is_one_from_the_security_archive(suite: str, security: bool) -> None:
    assert DebianUpdate("libssl3", "1", "2", suite).security is security
