"""How differences read on a terminal: engine numbers in human units, and long values cut around
their difference, never through it.

The engine writes sizes in bytes, CPU limits in billionths of a CPU and durations in nanoseconds
(`268435456` vs `314572800`, `3000000000` ns); people compare `256 MiB` with `300 MiB`. Two image
references that differ only in their digest are 110 characters each: printed whole, the eye cannot
find the difference, so the part both share is elided and the differing part shown in full.
Used by drift's report and by deploy's plan, so both read the same.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from lmsops.drift.compare import Difference

KIB = 1024
_BYTE_UNITS = (("GiB", KIB**3), ("MiB", KIB**2), ("KiB", KIB))
_NS_UNITS = (("s", 1_000_000_000), ("ms", 1_000_000), ("µs", 1_000))

# A field's unit comes from its name in the engine's documents (Swarm service spec, container inspect).
_BYTES = re.compile(r"(MemoryBytes|Memory|MemoryReservation|MemorySwap|KernelMemory\w*|ShmSize|SizeBytes)$")
_NANO_CPUS = re.compile(r"NanoC(PU|pu)s$")
_NANOSECONDS = re.compile(r"(Delay|Monitor|Window|StopGracePeriod|Interval|Timeout|StartPeriod|StartInterval)$")
_MICROSECONDS = re.compile(r"(CpuPeriod|CpuQuota|CpuRealtimePeriod|CpuRealtimeRuntime)$")

LONG = 80  # values longer than this on both sides are shown around their difference
CONTEXT = 16  # characters kept on each side of the difference
ELLIPSIS = "…"


def _number(text: str) -> int | None:
    return int(text) if re.fullmatch(r"-?\d+", text) else None


def _scaled(value: int, units: tuple[tuple[str, int], ...], base: str) -> str:
    """The largest unit the value is a whole number of; else one decimal, with the exact figure."""
    for unit, size in units:
        if value and abs(value) >= size:
            if value % size == 0:
                return f"{value // size} {unit}"
            return f"{value / size:.1f} {unit} ({value} {base})"
    return f"{value} {base}"


def cpus(nano: int) -> str:
    count = nano / 1_000_000_000
    shown = f"{count:g}" if round(count, 3) == count else f"{count:.3f}"
    return f"{shown} CPU" + ("" if count == 1 else "s")


def human(path: str, text: str) -> str:
    """A value as people read it, given the field's path: '268435456' of MemoryBytes -> '256 MiB'.
    Values of other fields, and values that are not plain integers, are returned unchanged."""
    value = _number(text)
    if value is None or value < 0 or not path:
        return text
    field = path.rsplit(".", 1)[-1]
    if value == 0 and (_BYTES.search(field) or _NANO_CPUS.search(field)):
        return "0 (no limit)"  # what the engine writes for a limit nobody set
    if _BYTES.search(field):
        return _scaled(value, _BYTE_UNITS, "bytes")
    if _NANO_CPUS.search(field):
        return cpus(value)
    if _NANOSECONDS.search(field):
        return _scaled(value, _NS_UNITS, "ns")
    if _MICROSECONDS.search(field):
        return _scaled(value, (("s", 1_000_000), ("ms", 1_000)), "µs")
    return text


def around_difference(first: str, second: str) -> tuple[str, str]:
    """Two long values shown around where they differ: what both share elided (a few characters kept
    for context), the differing part always in full. Short values are returned unchanged."""
    if len(first) <= LONG or len(second) <= LONG or first == second:
        return first, second
    prefix = 0
    while prefix < min(len(first), len(second)) and first[prefix] == second[prefix]:
        prefix += 1
    suffix = 0
    while suffix < min(len(first), len(second)) - prefix and first[-1 - suffix] == second[-1 - suffix]:
        suffix += 1
    start = max(prefix - CONTEXT, 0)

    def cut(text: str) -> str:
        end = len(text) - max(suffix - CONTEXT, 0)
        head = ELLIPSIS if start > 0 else ""
        tail = ELLIPSIS if end < len(text) else ""
        return head + text[start:end] + tail

    return cut(first), cut(second)


def shown(path: str, declared: str, running: str) -> tuple[str, str]:
    """Both sides of one difference, ready to print: units first, then cut around the difference."""
    return around_difference(human(path, declared), human(path, running))


def report(differences: Iterable[Difference]) -> str:
    """One block per difference: where (environment, service, field and its path) and both values."""
    lines = []
    for d in differences:
        where = f"  ({d.path})" if d.path else ""
        declared, running = shown(d.path, d.declared, d.running)
        lines.append(f"{d.env}  {d.service}  {d.field}{where}")
        lines.append(f"    declared: {declared}")
        lines.append(f"    running:  {running}")
    return "\n".join(lines)


def as_json(difference: Difference) -> dict[str, str]:
    """One difference for --json: the values as the engine writes them (no units, nothing elided)."""
    return {
        "env": difference.env,
        "service": difference.service,
        "category": difference.category,
        "field": difference.field,
        "path": difference.path,
        "declared": difference.declared,
        "running": difference.running,
    }
