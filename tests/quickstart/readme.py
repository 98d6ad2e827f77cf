"""The README's commands as the quickstart run types them, read from README.md so that the README
stays the one source of what a new user runs; and the shell script that runs them in order."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

# The Quickstart's bare `nox` is the whole test suite: about 20 minutes here, and exactly what CI's
# .ci/run runs on this same machine for every change. The run leaves it out and says so.
LEFT_OUT = {"nox": "the whole test suite, about 20 minutes, which CI's .ci/run runs on this same machine"}
# Where the script leaves what the host checks afterwards (git ignores .lmsops/: the tree stays clean).
RESULTS = ".lmsops/quickstart"
# Every curl of the Quickstart also prints the HTTP status it got, and its output is kept.
CURL_WRAPPER = f"curl() {{ command curl -w '\\nHTTP %{{http_code}}\\n' \"$@\" | tee -a {RESULTS}/curl.out; }}"


def sh_blocks(readme: Path, heading: str) -> list[str]:
    """Every ```sh block under a `## heading` of the README, in order."""
    text = readme.read_text(encoding="utf-8")
    parts = text.split(f"\n## {heading}\n", 1)
    assert len(parts) == 2, f"{readme}: no '## {heading}' section"
    blocks = re.findall(r"```sh\n(.*?)```", parts[1].split("\n## ", 1)[0], re.S)
    assert blocks, f"{readme}: no sh block under '## {heading}'"
    return blocks


def words(command: str) -> list[str]:
    """A command line as the shell splits it, its comment left out."""
    return shlex.split(command, comments=True)


@dataclass(frozen=True)
class Readme:
    """The README's Prerequisites block (as one piece: it holds a multi-line `{ ... }`) and the
    Quickstart's commands, one per line."""

    prerequisites: str
    quickstart: list[str]

    @classmethod
    def read(cls, readme: Path) -> Readme:
        lines = [line for block in sh_blocks(readme, "Quickstart") for line in block.splitlines()]
        commands = [line for line in lines if words(line)]
        return cls(sh_blocks(readme, "Prerequisites")[0], commands)

    def left_out(self, command: str) -> str | None:
        return LEFT_OUT.get(" ".join(words(command)))

    def run(self) -> list[str]:
        """The Quickstart commands the run types, in order."""
        return [command for command in self.quickstart if self.left_out(command) is None]

    def new_service(self) -> str:
        """The service the Quickstart stamps (`nox -s new_service -- NAME`)."""
        found = [w[4] for w in map(words, self.quickstart) if w[:4] == ["nox", "-s", "new_service", "--"]]
        assert len(found) == 1, f"the Quickstart stamps one service with nox -s new_service, not {found}"
        return found[0]

    def posted(self) -> dict[str, object]:
        """The JSON body the Quickstart's curl POSTs (its -d argument)."""
        for argv in map(words, self.quickstart):
            if argv[0] == "curl" and "-d" in argv:
                body = json.loads(argv[argv.index("-d") + 1])
                assert isinstance(body, dict), f"the Quickstart's curl posts {body!r}, not a JSON object"
                return body
        raise AssertionError("the Quickstart has no curl ... -d '{...}'")


def script(readme: Readme, *, secrets: str, check_url: str) -> str:
    """The bash script of a fresh machine: apt's lists, the prerequisites as written (sudo dropped:
    root in the container), then every Quickstart command with its time. `secrets`: a command that
    prints the names of the variables staging reads its secrets from (run just before staging's
    deploy, once the new service is stamped); `check_url`: what the new service answers in dev."""
    lines = [
        "set -euo pipefail",
        "exec 2>&1  # one stream, in the order things happen",
        "export DEBIAN_FRONTEND=noninteractive",
        "apt-get update -qq  # a fresh machine's package lists",
        "echo '== README prerequisites'",
        re.sub(r"(^|\s)sudo ", r"\1", readme.prerequisites),
        "echo '== curl, which the Quickstart uses for its example request (debian:bookworm-slim has none)'",
        "apt-get install -y -qq curl >/dev/null",
        f"mkdir -p {RESULTS}",
        CURL_WRAPPER,
        "echo '== README quickstart'",
    ]
    secrets_set = False
    for command in readme.quickstart:
        reason = readme.left_out(command)
        if reason is not None:
            shown = " ".join(words(command))
            lines.append(f"echo {shlex.quote(f'== left out: {shown} ({reason})')}")
            continue
        if "staging" in words(command) and not secrets_set:
            lines += staging_secrets(secrets)
            secrets_set = True
        lines += [
            f"echo {shlex.quote('$ ' + command)}",
            "started=$SECONDS",
            command,
            'echo "== took $((SECONDS - started)) s"',
        ]
    lines += [
        "echo '== after the Quickstart: the new service answers in dev, through the gateway'",
        f"command curl -s -w '\\nHTTP %{{http_code}}\\n' {shlex.quote(check_url)} | tee {RESULTS}/new-service.out",
        "echo '== quickstart ok'",
    ]
    return "\n".join(lines)


def staging_secrets(names_command: str) -> list[str]:
    """A random value in each variable staging reads a secret from (docs/environments.md): made
    here, never written to a file, never printed (only the names are)."""
    return [
        'echo "== staging\'s secrets: a random value in each LMSOPS_STAGING_* variable it reads"',
        f"names=$({names_command})",
        "for name in $names; do",
        "  export \"$name=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')\"",
        '  echo "   $name"',
        "done",
    ]
