"""The OS root (lmsops.images.bootstrap): left alone when it matches its inputs, pulled by its pinned
digest where a registry answers, otherwise bootstrapped with debootstrap, patched from -updates and
-security, slimmed like the official image and imported with the labels that make the next run a no-op.

debootstrap and the chroot's apt-get are answered by FakeRunner (they write what the real ones would
into the scratch root filesystem); docker pull and import by ImageDocker.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from lmsops.core import proc
from lmsops.core.errors import CommandError, ConfigError, PrerequisiteError
from lmsops.core.paths import Repo
from lmsops.images.bootstrap import INPUTS_LABEL, ORIGIN_LABEL, bootstrap, os_inputs, security_mirror
from lmsops.images.versions import Versions, load_versions
from tests.unit.conftest import PROJECT, write
from tests.unit.image_fakes import Call, FakeRunner, ImageDocker, reply, reporter

REFERENCE = "debian:bookworm-slim"
DIGEST = "sha256:3783cc01769c7b2b1b83a5c5ad96c815348e28ed7da68e2e3687004faa906251"
PINNED = f"debian@{DIGEST}"


@pytest.fixture
def os_repo(repo: Repo) -> Repo:
    """The scratch repository with this repository's base-images/os (sources template, slim configs)."""
    shutil.copytree(PROJECT.base_images / "os", repo.base_images / "os")
    return repo


@pytest.fixture
def versions(os_repo: Repo) -> Versions:
    return load_versions(os_repo)


@pytest.fixture
def root(monkeypatch: pytest.MonkeyPatch) -> None:
    """Running as root with debootstrap installed."""
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    real_which = shutil.which
    monkeypatch.setattr(
        shutil,
        "which",
        lambda name: "/usr/sbin/debootstrap" if name == "debootstrap" else real_which(name),
    )


def debootstrapped_tree(rootfs: Path) -> None:
    """What `debootstrap --variant=minbase` leaves: docs, man pages, apt lists, the host's resolv.conf ..."""
    for rel, text in {
        "bin/bash": "ELF",
        "usr/share/doc/bash/copyright": "GPL-3",
        "usr/share/doc/bash/changelog.Debian.gz": "changes",
        "usr/share/man/man1/bash.1.gz": "man",
        "usr/share/locale/de/LC_MESSAGES/bash.mo": "de",
        "var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease": "release",
        "var/cache/apt/pkgcache.bin": "cache",
        "var/cache/apt/archives/bash_5.2.15-2+b2_amd64.deb": "deb",
        "var/log/dpkg.log": "log",
        "var/lib/dpkg/status-old": "old",
        "etc/apt/sources.list": "deb http://deb.debian.org/debian bookworm main\n",
        "etc/resolv.conf": "nameserver 10.0.0.1\n",
        "etc/hostname": "build-host\n",
        "opt/keep/file": "not under a slimmed path",
    }.items():
        write(rootfs / rel, text)
    for folder in ("etc/apt/sources.list.d", "etc/apt/apt.conf.d", "etc/dpkg/dpkg.cfg.d"):
        (rootfs / folder).mkdir(parents=True)
    # A slimmed path that is a symlink: it goes, what it points at stays.
    (rootfs / "usr/share/groff").symlink_to("../../opt/keep")


class Debian:
    """Answers debootstrap and the chroot's apt-get like the real tools, and notes what apt saw."""

    def __init__(self, debootstrap_fails: bool = False) -> None:
        self.debootstrap_fails = debootstrap_fails
        self.sources_at_upgrade: str | None = None
        self.rootfs: Path | None = None

    def __call__(self, call: Call) -> proc.Result | None:
        if call.program == "debootstrap":
            if self.debootstrap_fails:
                return reply(
                    call, 1, "E: Failed getting release file http://deb.debian.org/debian/dists/bookworm/Release"
                )
            self.rootfs = Path(call.argv[3])
            debootstrapped_tree(self.rootfs)
            return reply(call, 0, "I: Base system installed successfully.")
        if call.program == "chroot":
            rootfs, step = Path(call.argv[1]), call.argv[2:]
            if step == ["apt-get", "update"]:
                write(rootfs / "var/lib/apt/lists/deb.debian.org_debian_dists_bookworm-security_InRelease", "x")
            if step == ["apt-get", "-y", "upgrade"]:
                self.sources_at_upgrade = (rootfs / "etc/apt/sources.list.d/debian.sources").read_text()
                assert not (rootfs / "etc/apt/sources.list").exists()
            return reply(call, 0, "Reading package lists... Done")
        return None


def runner(monkeypatch: pytest.MonkeyPatch, debian: Debian) -> FakeRunner:
    return FakeRunner(monkeypatch, debian)


def test_a_root_matching_its_inputs_is_left_alone(os_repo: Repo, versions: Versions) -> None:
    """A root bootstrapped from the same os entry and base-images/os/ is up to date: nothing is pulled or made."""
    docker = ImageDocker()
    image_id = docker.add_image(REFERENCE, {INPUTS_LABEL: os_inputs(os_repo, versions)})
    report, out = reporter()
    result = bootstrap(os_repo, docker, versions, "auto", report)
    assert (result.image_id, result.origin, result.changed) == (image_id, "debootstrap", False)
    assert docker.pulls == []
    assert f"{REFERENCE}: up to date (debootstrap, {image_id[:19]}), nothing to do" in out.getvalue()


@pytest.mark.parametrize(
    ("repo_digests", "present"),
    [([PINNED], True), ([f"docker.io/library/debian@{DIGEST}"], True), ([f"debian@sha256:{'0' * 64}"], False)],
)
def test_a_pulled_root_is_up_to_date_only_with_the_pinned_digest(
    os_repo: Repo, versions: Versions, repo_digests: list[str], present: bool
) -> None:
    """A root that was pulled is current when its repository digest is the one versions.yaml pins;
    another digest (an older pin) is pulled again."""
    docker = ImageDocker()
    docker.registry.add(DIGEST)
    docker.add_image(REFERENCE)
    docker.images[REFERENCE]["RepoDigests"] = repo_digests
    result = bootstrap(os_repo, docker, versions, "auto", reporter()[0])
    assert result.origin == "pulled"
    assert (docker.pulls, result.changed) == (([], False) if present else ([PINNED], True))


def test_where_a_registry_answers_the_root_is_pulled_by_digest_and_tagged(os_repo: Repo, versions: Versions) -> None:
    """auto mode pulls debian@<os.digest> and tags it with os.reference; the next run finds it current."""
    docker = ImageDocker()
    docker.registry.add(DIGEST)
    report, out = reporter()
    result = bootstrap(os_repo, docker, versions, "auto", report)
    assert docker.pulls == [PINNED]
    assert docker.images[REFERENCE] is docker.images[PINNED]
    assert (result.reference, result.image_id, result.origin, result.changed) == (
        REFERENCE, docker.images[PINNED]["Id"], "pulled", True,
    )  # fmt: skip
    assert f"<== {REFERENCE}: pulled by digest in" in out.getvalue()
    again = bootstrap(os_repo, docker, versions, "auto", reporter()[0])
    assert (again.changed, docker.pulls) == (False, [PINNED])


def test_pull_mode_fails_with_the_registry_error(
    monkeypatch: pytest.MonkeyPatch, os_repo: Repo, versions: Versions
) -> None:
    """`--pull` (mode pull) never falls back to debootstrap: the pull's own error is raised."""
    docker = ImageDocker()
    commands = runner(monkeypatch, Debian())
    with pytest.raises(CommandError, match="no such host"):
        bootstrap(os_repo, docker, versions, "pull", reporter()[0])
    assert commands.calls == [] and docker.imports == []


@pytest.mark.usefixtures("root")
def test_without_a_registry_auto_mode_bootstraps_and_says_why(
    monkeypatch: pytest.MonkeyPatch, os_repo: Repo, versions: Versions
) -> None:
    """A failed pull in auto mode is reported with the error's last line, then debootstrap makes the root."""
    docker = ImageDocker()
    runner(monkeypatch, Debian())
    report, out = reporter()
    result = bootstrap(os_repo, docker, versions, "auto", report)
    assert docker.pulls == [PINNED]
    assert "no registry reachable (Error response from daemon: Get" in out.getvalue()
    assert "; bootstrapping from Debian packages" in out.getvalue()
    assert (result.origin, result.changed) == ("debootstrap", True)


@pytest.mark.usefixtures("root")
def test_offline_bootstrap_patches_slims_and_labels_the_root(
    monkeypatch: pytest.MonkeyPatch, os_repo: Repo, versions: Versions
) -> None:
    """Offline: debootstrap minbase from os.mirror, -updates and -security added and upgraded from in the
    chroot, the tree slimmed as the official image is, imported with its inputs hash; the scratch tree
    is removed, and a second run is a no-op."""
    docker = ImageDocker()
    debian = Debian()
    commands = runner(monkeypatch, debian)
    report, out = reporter()

    result = bootstrap(os_repo, docker, versions, "offline", report)

    assert docker.pulls == []
    wanted = os_inputs(os_repo, versions)
    rootfs = str(os_repo.work / f"rootfs-bookworm-{wanted[:12]}")
    assert commands.argvs("debootstrap") == [
        ["debootstrap", "--variant=minbase", "bookworm", rootfs, "http://deb.debian.org/debian"]
    ]
    assert commands.argvs("chroot") == [
        ["chroot", rootfs, "apt-get", "update"],
        ["chroot", rootfs, "apt-get", "-y", "upgrade"],
        ["chroot", rootfs, "apt-get", "clean"],
    ]
    assert all(call.env == {"DEBIAN_FRONTEND": "noninteractive"} for call in commands.calls if call.program == "chroot")
    sources = debian.sources_at_upgrade
    assert sources is not None and "#" not in sources and "{" not in sources
    assert "URIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\n" in sources
    assert "URIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\n" in sources

    [imported] = docker.imports
    files, dirs = imported.files, imported.dirs
    assert files["usr/share/doc/bash/copyright"] == "GPL-3", "copyright files are kept"
    for gone in ("usr/share/doc/bash/changelog.Debian.gz", "usr/share/man/man1/bash.1.gz", "var/log/dpkg.log",
                 "usr/share/locale/de/LC_MESSAGES/bash.mo", "var/cache/apt/pkgcache.bin", "var/lib/dpkg/status-old",
                 "var/cache/apt/archives/bash_5.2.15-2+b2_amd64.deb", "etc/resolv.conf", "etc/hostname"):  # fmt: skip
        assert gone not in files, gone
    assert not [name for name in files if name.startswith("var/lib/apt/lists/")], "apt lists are dropped"
    assert {"var/lib/apt/lists/partial", "var/cache/apt/archives/partial", "var/log/apt"} <= dirs
    assert files["opt/keep/file"] == "not under a slimmed path" and "usr/share/groff" not in dirs
    assert files["etc/dpkg/dpkg.cfg.d/slim"] == (os_repo.base_images / "os" / "dpkg-slim.cfg").read_text()
    assert files["etc/apt/apt.conf.d/docker-slim"] == (os_repo.base_images / "os" / "apt-slim.conf").read_text()
    assert files["etc/machine-id"] == "" and files["bin/bash"] == "ELF"
    assert imported.changes[:2] == [
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        'CMD ["bash"]',
    ]
    labels = imported.labels
    assert (labels[INPUTS_LABEL], labels[ORIGIN_LABEL]) == (wanted, "debootstrap")
    assert labels["org.opencontainers.image.title"] == REFERENCE
    assert labels["org.opencontainers.image.version"] == "12-1"
    assert labels["org.opencontainers.image.description"].startswith("Debian bookworm minbase, slimmed")

    assert not Path(rootfs).exists(), "the scratch root filesystem is removed"
    assert (result.image_id, result.origin, result.changed) == (docker.image_id(REFERENCE), "debootstrap", True)
    assert f"<== {REFERENCE}: bootstrapped in" in out.getvalue()

    again = bootstrap(os_repo, docker, versions, "offline", reporter()[0])
    assert again.changed is False and len(commands.argvs("debootstrap")) == 1


@pytest.mark.usefixtures("root")
def test_a_failed_debootstrap_names_the_mirror_and_leaves_no_tree(
    monkeypatch: pytest.MonkeyPatch, os_repo: Repo, versions: Versions
) -> None:
    """debootstrap's failure is raised with the hint to check os.mirror; nothing is imported or left behind."""
    docker = ImageDocker()
    runner(monkeypatch, Debian(debootstrap_fails=True))
    with pytest.raises(CommandError, match=r"E: Failed getting release file(.|\n)*\(os\.mirror\)"):
        bootstrap(os_repo, docker, versions, "offline", reporter()[0])
    assert docker.imports == []
    assert list(os_repo.work.glob("rootfs-*")) == []


@pytest.mark.usefixtures("root")
def test_a_missing_sources_template_is_named(
    monkeypatch: pytest.MonkeyPatch, os_repo: Repo, versions: Versions
) -> None:
    """Without base-images/os/debian.sources the root would miss its security updates: refused, tree removed."""
    (os_repo.base_images / "os" / "debian.sources").unlink()
    debian = Debian()
    runner(monkeypatch, debian)
    docker = ImageDocker()
    with pytest.raises(ConfigError, match=r"base-images/os/debian\.sources: not found; it lists the suite"):
        bootstrap(os_repo, docker, load_versions(os_repo), "offline", reporter()[0])
    assert debian.rootfs is not None and not debian.rootfs.exists()
    assert docker.imports == []


def test_debootstrap_needs_root_and_the_tool(
    monkeypatch: pytest.MonkeyPatch, os_repo: Repo, versions: Versions
) -> None:
    """Without root, or without debootstrap, the offline bootstrap stops before touching anything, saying what to do."""
    commands = runner(monkeypatch, Debian())
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(PrerequisiteError, match="debootstrap needs root"):
        bootstrap(os_repo, ImageDocker(), versions, "offline", reporter()[0])
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    with pytest.raises(PrerequisiteError, match=r"debootstrap is not installed: `apt-get install debootstrap`"):
        bootstrap(os_repo, ImageDocker(), versions, "offline", reporter()[0])
    assert commands.calls == []


def test_the_inputs_are_the_os_entry_and_the_os_folder(os_repo: Repo, versions: Versions) -> None:
    """A new os version or a changed file of base-images/os/ makes another root; a base's version does not."""
    before = os_inputs(os_repo, versions)
    bumped = versions.model_copy(update={"os": versions.os.model_copy(update={"version": "12-2"})})
    assert os_inputs(os_repo, bumped) != before
    other_base = versions.model_copy(update={"images": {}})
    assert os_inputs(os_repo, other_base) == before
    write(os_repo.base_images / "os" / "apt-slim.conf", 'APT::Install-Recommends "true";\n')
    assert os_inputs(os_repo, versions) != before


@pytest.mark.parametrize(
    ("mirror", "security"),
    [
        ("http://deb.debian.org/debian", "http://deb.debian.org/debian-security"),
        ("http://deb.debian.org/debian/", "http://deb.debian.org/debian-security"),
        ("https://mirror.example/pub/debian", "https://mirror.example/pub/debian-security"),
    ],
)
def test_the_security_archive_sits_beside_the_mirror(mirror: str, security: str) -> None:
    """The -security suite is read from <mirror>-security, as Debian publishes it."""
    assert security_mirror(mirror) == security
