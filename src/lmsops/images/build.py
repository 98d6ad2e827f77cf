"""Building every base and service image in dependency order, and only when inputs changed.

An image's identity is the hash of its inputs (its folder, its Dockerfile, its version and
the ids of the bases it builds FROM), stored as a label. When the tagged image already
carries that hash, nothing is built and lmsops says "up to date".
"""

from __future__ import annotations

import contextvars
import functools
import os
import re
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime

from lmsops.core.docker import Docker, image_labels_of
from lmsops.core.errors import LmsopsError
from lmsops.core.gitinfo import SourceInfo
from lmsops.core.labels import OCI
from lmsops.core.paths import Repo
from lmsops.core.progress import Reporter, count, megabytes, seconds
from lmsops.images.bootstrap import INPUTS_LABEL, Mode, bootstrap
from lmsops.images.discovery import ImageSpec
from lmsops.images.plan import PlannedImage, plan_images
from lmsops.images.versions import OS_NAME, load_versions
from lmsops.images.wheelhouse import LOCK, ensure_wheelhouse, read_lock

KIND_LABEL = "org.lmsops.kind"


@dataclass(frozen=True)
class Built:
    """What happened to one image."""

    name: str
    reference: str
    image_id: str
    built: bool
    seconds: float
    size: int
    pulled: bool = False  # from the shared registry (LMSOPS_REGISTRY), not built here


class BuildError(LmsopsError):
    """An image failed to build; names the image and the Dockerfile line docker reported."""


def build(
    repo: Repo,
    docker: Docker,
    report: Reporter,
    names: list[str] | None = None,
    mode: Mode = "auto",
    planned: list[PlannedImage] | None = None,
) -> list[Built]:
    """Build the named images (default: all) and the bases they need.
    planned: the plan the command already computed (lmsops.images.context), instead of names."""
    versions = load_versions(repo)
    if planned is None:
        planned = plan_images(repo, versions, names)
    docker.require()
    check_locks(repo, planned)
    started = time.monotonic()
    registry = shared_registry()
    image_ids: dict[str, str] = {}
    references: dict[str, str] = {}
    if registry is None or not all(_local_or_shared(docker, registry, image) for image in planned):
        os_root = bootstrap(repo, docker, versions, mode, report)  # something is left to build on it
        image_ids[OS_NAME], references[OS_NAME] = os_root.image_id, os_root.reference
    results = _build_all(repo, docker, planned, image_ids, references, report, registry)
    done, pulled = sum(1 for r in results if r.built), sum(1 for r in results if r.pulled)
    from_registry = f", {pulled} pulled from {registry}" if pulled else ""
    report.say(
        f"build: {count(len(results), 'image')}, {done} built{from_registry}, "
        f"{len(results) - done - pulled} up to date, in {seconds(started)}"
    )
    return results


def check_locks(repo: Repo, planned: list[PlannedImage]) -> None:
    """Read every planned service's lock file before the first build starts: a malformed entry or marker
    in the last service's lock is reported before minutes of building the others, and nothing is built."""
    for image in planned:
        lock = image.spec.dockerfile.parent / LOCK
        if image.spec.kind == "service" and lock.is_file():
            read_lock(lock, repo.display(lock))


# Independent images build side by side: most of a build is waiting for apt, pip and the engine.
PARALLEL_BUILDS = 3
_WHEELHOUSE = threading.Lock()  # one pip download at a time into the shared wheel cache


def shared_registry() -> str | None:
    """LMSOPS_REGISTRY: the registry where images of this repository are shared (a CI job, a second
    machine). An image it holds under the content tag is pulled instead of built; unset, none."""
    return os.environ.get("LMSOPS_REGISTRY") or None


def _local_or_shared(docker: Docker, registry: str, image: PlannedImage) -> bool:
    if docker.image_labels(image.reference).get(INPUTS_LABEL) == image.identity:
        return True
    return docker.registry_digest(f"{registry}/{image.reference}") is not None


def _build_all(
    repo: Repo,
    docker: Docker,
    planned: list[PlannedImage],
    image_ids: dict[str, str],
    references: dict[str, str],
    report: Reporter,
    registry: str | None = None,
) -> list[Built]:
    """Build every planned image as soon as the images it builds FROM are done, several at once.
    After a failure nothing new starts; the builds under way finish, then the first error is raised."""
    pending = list(planned)
    planned_names = {image.name for image in planned}
    done: dict[str, Built] = {}
    errors: list[Exception] = []
    with ThreadPoolExecutor(max_workers=PARALLEL_BUILDS, thread_name_prefix="lmsops-build") as pool:
        running: dict[Future[Built], PlannedImage] = {}
        while (pending and not errors) or running:
            ready = [
                image for image in pending
                if all(parent in done or parent not in planned_names for parent in image.spec.parents)
            ]  # fmt: skip
            for image in ready if not errors else []:
                pending.remove(image)
                # In this thread's context: a deploy's images_seen_once (lmsops.core.seen_images) holds there too.
                one = functools.partial(
                    _build_one, repo, docker, image, dict(image_ids), dict(references), report, registry
                )
                job = pool.submit(contextvars.copy_context().run, one)
                running[job] = image
            if not running:
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                image = running.pop(future)
                try:
                    result = future.result()
                except Exception as exc:  # re-raised below, after the builds under way finish
                    errors.append(exc)
                    continue
                image_ids[image.name], references[image.name] = result.image_id, result.reference
                done[image.name] = result
    if errors:
        raise errors[0]
    return [done[image.name] for image in planned]


def _build_one(
    repo: Repo,
    docker: Docker,
    image: PlannedImage,
    image_ids: dict[str, str],
    references: dict[str, str],
    report: Reporter,
    registry: str | None = None,
) -> Built:
    spec, info, inputs, reference = image.spec, image.source, image.identity, image.reference
    build_args = dict(image.build_args)
    started = time.monotonic()
    found = docker.image_inspect(reference)  # once: a no-op build is one inspect per image (bench)
    if found is not None and image_labels_of(found).get(INPUTS_LABEL) == inputs:
        image_id = str(found["Id"])
        if image.alias and docker.image_id(image.alias) != image_id:
            docker.tag(reference, image.alias)
        report.say(f"    {reference}: up to date")
        return Built(spec.name, reference, image_id, False, 0.0, int(str(found["Size"])))
    if registry is not None and docker.registry_digest(f"{registry}/{reference}") is not None:
        return _pull_shared(docker, image, registry, report, started)
    report.say(f"==> building {reference} ({spec.kind}, FROM {references[spec.runtime_parent]}) ...")
    # The commit's time, so the same commit labels its images alike everywhere; the wall clock only
    # for uncommitted work.
    created = info.time or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    labels = _labels(spec, info, created, inputs, references, image_ids)
    if spec.kind == "service":
        with _WHEELHOUSE:
            ensure_wheelhouse(repo, spec.dockerfile.parent, report)
        # Baked into the image for its /version endpoint; not part of the identity (a dirty tree's time changes).
        build_args |= {
            "BUILD_VERSION": spec.version,
            "BUILD_REVISION": info.revision,
            "BUILD_TIME": created,
            "SOURCE_DATE_EPOCH": _epoch(created),
        }  # file times of the layers the Dockerfile normalises
    iidfile = repo.work / "iid" / f"{spec.name}.iid"
    iidfile.parent.mkdir(parents=True, exist_ok=True)
    output: list[str] = []  # all of it: a failure's reason can be anywhere, not only in the tail
    steps = StepProgress(spec.name, report)

    def on_line(line: str) -> None:
        output.append(line)
        report.detail(line)
        steps.line(line)

    try:
        image_id = docker.build(
            context=spec.context,
            dockerfile=spec.dockerfile,
            tags=[reference, *([image.alias] if image.alias else [])],
            build_args=build_args,
            labels=labels,
            iidfile=iidfile,
            on_line=on_line,
        )
    except LmsopsError as exc:
        report.say(f"<== {reference}: FAILED after {seconds(started)}")
        reasons = "".join(f"    {reason}\n" for reason in failure_reasons(output))
        shown = "\n".join("    " + line for line in output[-25:])
        raise BuildError(
            f"building {spec.name} ({repo.display(spec.dockerfile)}) failed:\n{reasons}    ...\n{shown}"
        ) from exc
    size = docker.image_size(reference)
    elapsed = time.monotonic() - started
    report.say(f"<== {reference}: built in {elapsed:.1f} s ({megabytes(size)})")
    return Built(spec.name, reference, image_id, True, elapsed, size)


def _epoch(iso: str) -> str:
    return str(int(datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()))


def _pull_shared(docker: Docker, image: PlannedImage, registry: str, report: Reporter, started: float) -> Built:
    """The image as another machine built it from the same inputs: pulled, tagged, checked."""
    reference, remote = image.reference, f"{registry}/{image.reference}"
    docker.pull(remote)
    docker.tag(remote, reference)
    if image.alias:
        docker.tag(reference, image.alias)
    if docker.image_labels(reference).get(INPUTS_LABEL) != image.identity:
        raise BuildError(f"{remote} is not built from this tree's inputs ({INPUTS_LABEL}); remove that tag")
    report.say(f"<== {reference}: pulled from {registry} ({seconds(started)})")
    return Built(image.name, reference, docker.image_id(reference) or "", False, time.monotonic() - started,
                 docker.image_size(reference), pulled=True)  # fmt: skip


_STEP = re.compile(r"^Step (\d+)/(\d+) : (.+)$")  # the classic builder: "Step 7/12 : RUN ..."
_BUILDKIT_STEP = re.compile(r"^#\d+ \[(?:\S+ )?(\d+)/(\d+)\] (.+)$")  # BuildKit, plain: "#9 [builder 3/5] RUN ..."
STEP_GAP = 3.0  # seconds: at most one step line per image this often


class StepProgress:
    """Without --verbose, which step of an image's Dockerfile runs: `catalog: step 7/12 RUN ...` when a
    step starts or shows output, at most every STEP_GAP seconds per image, so that quick steps go by
    unsaid and a long one is named while it runs."""

    def __init__(self, name: str, report: Reporter) -> None:
        self.name, self.report = name, report
        self.current = self.shown = ""
        self.last = time.monotonic()  # the "==> building" line was just printed

    def line(self, line: str) -> None:
        text = _ANSI.sub("", line).strip()
        match = _STEP.match(text) or _BUILDKIT_STEP.match(text)
        if match:
            instruction = " ".join(match.group(3).split())
            cut = instruction if len(instruction) <= 72 else instruction[:69] + "..."
            self.current = f"step {match.group(1)}/{match.group(2)} {cut}"
        now = time.monotonic()
        if self.report.verbose or not self.current or self.current == self.shown or now - self.last < STEP_GAP:
            return
        self.report.say(f"    {self.name}: {self.current}")
        self.shown, self.last = self.current, now


_ANSI = re.compile(r"\x1b\[[0-9;]*m|\[\d+m")
_REASON = re.compile(r"(?:^|\s)((?:E|ERROR|error): .+)$")
# One write of a build step to its stderr, as the classic builder shows it: red, then reset (or the end).
_STDERR_WRITE = re.compile(r"\x1b\[91m(.*?)(?:\x1b\[0m|$)", re.DOTALL)


def failure_reasons(output: list[str]) -> list[str]:
    """apt's and the builder's own error lines ('E: Unable to locate package x'), wherever they are
    in the output: progress lines rewritten with \\r and colour codes included. Each once, in order:
    the steps' stderr first, then the rest.

    The classic builder sends a step's stdout and stderr as two streams and wraps every write to
    stderr in a red colour code; the two interleave write by write, not line by line. apt writes
    'E', ': ' and the message separately, so under load another stream's text lands between them
    (seen: 'E' glued to 'Reading state information...', ': Unable to locate ...' on the next line,
    and no 'E: ' anywhere). The stderr writes are joined back into their own stream before looking."""
    text = "\n".join(output)
    stderr = "".join(_STDERR_WRITE.findall(text))
    rest = _STDERR_WRITE.sub("\n", text)
    found: list[str] = []
    for stream in (stderr, rest):
        for part in re.split(r"[\r\n]", _ANSI.sub("", stream)):
            match = _REASON.search(part.strip())
            if match and match.group(1).strip() not in found:
                found.append(match.group(1).strip())
    return found


def _labels(
    spec: ImageSpec,
    info: SourceInfo,
    created: str,
    inputs: str,
    references: dict[str, str],
    image_ids: dict[str, str],
) -> dict[str, str]:
    parent = spec.runtime_parent
    return {
        f"{OCI}.title": spec.name,
        f"{OCI}.description": spec.description or f"lmsops {spec.kind} image {spec.name}",
        f"{OCI}.version": spec.version,
        f"{OCI}.revision": info.revision,
        f"{OCI}.source": info.source,
        f"{OCI}.created": created,
        f"{OCI}.base.name": references[parent],
        f"{OCI}.base.digest": image_ids[parent],
        INPUTS_LABEL: inputs,
        KIND_LABEL: spec.kind,
    }
