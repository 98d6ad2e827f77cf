"""Progress lines while an environment converges: what each service is doing, when it changes and
otherwise now and then, so that a deploy is never silent for minutes, and a CI log gets a line per
change rather than one per reading."""

from __future__ import annotations

import re
from collections.abc import Callable

from lmsops.core.progress import Reporter

CHANGE_GAP = 2.0  # a change is shown at most this often
HEARTBEAT = 10.0  # and without change, a line this often, with the time waited


class Heartbeat:
    """Decides when a wait prints its state: at once when the state changed (at most every `gap`
    seconds), else every `every` seconds; the line says how long the wait has lasted."""

    def __init__(self, clock: Callable[[], float], gap: float = CHANGE_GAP, every: float = HEARTBEAT) -> None:
        self.clock, self.gap, self.every = clock, gap, every
        self.started = self.last_at = clock()
        self.last = ""

    def due(self, state: str) -> bool:
        now = self.clock()
        since = now - self.last_at
        if (state != self.last and since >= self.gap) or since >= self.every:
            self.last, self.last_at = state, now
            return True
        return False

    def say(self, report: Reporter, state: str) -> None:
        """Print `    waiting N s: state` when due."""
        if state and self.due(state):
            report.say(f"    waiting {self.clock() - self.started:.0f} s: {state}")

    def noted(self) -> None:
        """Another line was just printed: the next heartbeat counts from now."""
        self.last_at = self.clock()


_EVENT = re.compile(r"^\s*Container (\S+)\s+(\w+)\s*$")
_WORDS = {"Waiting": "waiting for healthy", "Healthy": "healthy", "Running": "running", "Started": "started"}


class ComposeProgress:
    """Reads `docker compose up`'s own lines (" Container lms-dev-catalog-1  Healthy") into the state of
    each container, and prints it as Heartbeat says: `catalog waiting for healthy, postgres healthy`."""

    def __init__(self, project: str, report: Reporter, clock: Callable[[], float]) -> None:
        self.project, self.report = project, report
        self.heartbeat = Heartbeat(clock)
        self.states: dict[str, str] = {}

    def line(self, line: str) -> None:
        self.report.detail(line)
        match = _EVENT.match(line)
        if match:
            name = match.group(1).removeprefix(f"{self.project}-").removesuffix("-1")
            self.states[name] = _WORDS.get(match.group(2), match.group(2).lower())

    def tick(self) -> None:
        self.heartbeat.say(self.report, ", ".join(f"{name} {state}" for name, state in sorted(self.states.items())))
