"""What an upgrade report says about an image (lmsops.images.facts): its id, size, base and packages,
read from throwaway containers without a network, and the package differences between two builds."""

from __future__ import annotations

from lmsops.images.facts import image_facts, package_changes
from tests.unit.image_fakes import ImageDocker

SERVICE = "lmsops/catalog:1.0.0-0123456789ab"
BASE = "lmsops/python:3.11-1-ba5eba5eba5e"


def test_a_missing_image_has_no_facts() -> None:
    """An image that was never built is None (the report shows '-'), and no container is started for it."""
    docker = ImageDocker()
    assert image_facts(docker, SERVICE) is None
    assert docker.runs == []


def test_facts_come_from_the_labels_and_the_images_own_tools() -> None:
    """Base name and digest from the OCI labels; Debian packages from dpkg-query and Python ones from
    python3, both run in the image itself with no network."""
    docker = ImageDocker()
    image_id = docker.add_image(
        SERVICE,
        {"org.opencontainers.image.base.name": BASE, "org.opencontainers.image.base.digest": "sha256:" + "b" * 64},
    )
    docker.set_debian(SERVICE, {"libc6": "2.36-9+deb12u7", "python3.11": "3.11.2-6"})
    docker.images[SERVICE]["Python"] = {"fastapi": "0.115.0", "pydantic": "2.9.2"}

    facts = image_facts(docker, SERVICE)

    assert facts is not None
    assert (facts.reference, facts.image_id, facts.size) == (SERVICE, image_id, 1_000_000)
    assert (facts.base_name, facts.base_digest) == (BASE, "sha256:" + "b" * 64)
    assert facts.debian == {"libc6": "2.36-9+deb12u7", "python3.11": "3.11.2-6"}
    assert facts.python == {"fastapi": "0.115.0", "pydantic": "2.9.2"}
    assert [(run["entrypoint"], run["network"]) for run in docker.runs] == [("dpkg-query", "none"), ("python3", "none")]
    assert docker.runs[0]["args"] == ["--show", "--showformat", "${Package} ${Version}\\n"]


def test_an_image_without_python_has_no_python_packages_and_odd_lines_are_skipped() -> None:
    """The OS root has no python3 (its container fails): no Python packages, not an error. A line
    without a version is not counted as a package."""
    docker = ImageDocker()
    docker.add_image("debian:bookworm-slim")
    docker.set_debian("debian:bookworm-slim", {"base-files": "12.4+deb12u5", "half-removed": ""})
    facts = image_facts(docker, "debian:bookworm-slim")
    assert facts is not None
    assert (facts.debian, facts.python) == ({"base-files": "12.4+deb12u5"}, {})
    assert (facts.base_name, facts.base_digest) == ("", "")


def test_package_changes_list_what_was_added_removed_and_changed() -> None:
    """The summary the report prints: additions, removals, then version changes, each sorted by name."""
    old = {"libssl3": "3.0.11", "less": "590-2", "bash": "5.2.15"}
    new = {"libssl3": "3.0.15", "bash": "5.2.15", "zstd": "1.5.4", "curl": "7.88.1"}
    changes = package_changes(old, new)
    assert changes.added == {"zstd": "1.5.4", "curl": "7.88.1"}
    assert changes.removed == {"less": "590-2"}
    assert changes.changed == {"libssl3": ("3.0.11", "3.0.15")}
    assert changes.summary() == "+curl 7.88.1, +zstd 1.5.4, -less 590-2, libssl3 3.0.11 -> 3.0.15"
    assert package_changes(new, dict(new)).summary() == "none"
