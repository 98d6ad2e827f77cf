"""Image inspect documents (and the engine's version and defaults) kept for one operation (a deploy,
a rollback).

A deploy asks about the same few images again and again: the build check, the plan, drift's rendering
and the progress lines each inspect every service's image (27 `docker image inspect` processes for a
deploy of dev that changes nothing, ~14 ms of CPU each in the CLI, and the engine's share). Inside
`images_seen_once()` each reference is inspected once, and the engine's version document and defaults
(drift's rendering asks for them before and after applying) are asked once, as is the registry's
digest of each tag (a deploy to a registry resolves its model before and after publishing).

Scoped, never process-wide: another process may move a tag between two commands (a test worker lives
for the whole run). Any docker command through the adapter that can change local images (a build, tag,
pull, push, import, load, removal, commit) forgets everything seen. Per thread (a ContextVar): a thread
started inside the scope sees no memo and asks the engine, as without it, unless it runs in a copy of
the context (the parallel builds do: lmsops.images.build).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar

Document = dict[str, object] | None
Key = tuple[str, ...]

_SEEN: ContextVar[dict[Key, Document] | None] = ContextVar("lmsops_seen_images", default=None)

# docker VERB, or docker image VERB, that changes what an image reference names.
_CHANGES = {"build", "builder", "buildx", "commit", "import", "load", "pull", "push", "rmi", "tag"}
_IMAGE_CHANGES = {"build", "import", "load", "prune", "pull", "push", "rm", "tag"}
# Flags of the docker CLI itself (before the verb) that take a value.
_GLOBAL_WITH_VALUE = {"--context", "-c", "--host", "-H", "--config", "--log-level", "-l"}


@contextmanager
def images_seen_once() -> Iterator[None]:
    """Inside, each image reference is inspected once (until a command changes images)."""
    token = _SEEN.set({})
    try:
        yield
    finally:
        _SEEN.reset(token)


def recall(key: Key) -> tuple[bool, Document]:
    """(True, document) when key was inspected in this scope; (False, None) otherwise."""
    seen = _SEEN.get()
    if seen is None or key not in seen:
        return False, None
    return True, copy.deepcopy(seen[key])  # callers may change what they get


def remember(key: Key, document: Document) -> None:
    seen = _SEEN.get()
    if seen is not None:
        seen[key] = copy.deepcopy(document)


def forget_if_changing(argv: Sequence[str]) -> None:
    """Forget every image seen when argv (docker's, without the binary) may change local images."""
    seen = _SEEN.get()
    if seen and _changes_images(argv):
        seen.clear()


def _changes_images(argv: Sequence[str]) -> bool:
    words = list(argv)
    while words and words[0].startswith("-"):  # docker's own flags: --context NAME, -H HOST, ...
        flag = words.pop(0)
        if flag in _GLOBAL_WITH_VALUE and words:
            words.pop(0)
    if not words:
        return False
    if words[0] in _CHANGES:
        return True
    if words[0] == "image" and len(words) > 1:
        return words[1] in _IMAGE_CHANGES
    if words[0] == "system":  # system prune removes images too
        return "prune" in words[1:]
    # Compose builds and pulls images too (lmsops passes --no-build and --pull never to up).
    return words[0] == "compose" and any(word in {"build", "pull", "push"} for word in words[1:])
