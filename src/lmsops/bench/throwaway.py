"""Throwaway deployments beside the real ones (test runs, benchmarks): renamed environment files
and throwaway secret values.

A throwaway deployment is declared like any other: by environment files. `throwaway_environments`
writes renamed copies of env/*.yaml (lms-staging-bench, lms-staging-ie, ...) into the work dir, with
the values the run chooses (a free gateway port, another engine) and `confirm: false` written in
the copy, and returns the repository reading its environments from there. Nothing in deploy knows
it is a throwaway: the guard, the target and every check read the files, as for a real deploy.

Staging and production read their secrets from the operator's environment (LMSOPS_STAGING_...).
A throwaway deployment needs values, never the operator's: random ones are set for the variables
that are not set, and taken away after (`throwaway_secrets`).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from lmsops.core.errors import ConfigError
from lmsops.core.paths import Repo
from lmsops.core.yamlfile import dump_yaml, parse_yaml, read_yaml
from lmsops.environments.config import known_environments, load_environment
from lmsops.environments.model import model_services
from lmsops.environments.stack import secret_files


def secret_variables(repo: Repo) -> set[str]:
    """Every environment variable some environment reads a secret from."""
    names = set()
    for env_name in known_environments(repo):
        env = load_environment(repo, env_name, model_services(repo))
        for secret in secret_files(repo):
            source = env.secret_source(secret)
            if source is not None and source.env is not None:
                names.add(source.env)
    return names


@contextmanager
def throwaway_secrets(repo: Repo, keep: dict[str, str] | None = None) -> Iterator[None]:
    """Random values for the secret variables that are not set, for as long as the block runs.
    keep: where the values made are kept, so the next block gets the same ones (a changed secret
    would replace the services that use it)."""
    made = keep if keep is not None else {}
    saved = {name: os.environ.get(name) for name in secret_variables(repo)}
    for name in saved:
        os.environ.setdefault(name, made.setdefault(name, secrets.token_urlsafe(18)))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)


def throwaway_environments(
    repo: Repo,
    suffix: str,
    variables: Mapping[str, Mapping[str, str]],
    *,
    context: str | None = None,
) -> Repo:
    """Renamed copies of every environment (targets named <name><suffix>), with the values given in
    `variables` (env name -> variable -> value) set; `context`: deploy them to that Docker context."""
    unknown = sorted(set(variables) - set(known_environments(repo)))
    if unknown:
        raise ConfigError(f"no environment {unknown[0]!r} to copy; known: {', '.join(known_environments(repo))}")
    if not suffix.startswith("-") or not suffix[1:].replace("-", "").isalnum():
        raise ConfigError(f"a throwaway suffix looks like -bench or -it2, not {suffix!r}")
    # One folder per suffix and set of environments: runs side by side never share one.
    folder = repo.work / "throwaway" / f"{suffix.lstrip('-')}_{'+'.join(sorted(variables))}" / "env"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.yaml"):
        old.unlink()
    # Every environment is copied (renamed), not only those given values: what the services declare
    # per environment (x-lmsops.replicas.<env>) is checked against the whole set, as for env/.
    for name in known_environments(repo):
        source = repo.environments / f"{name}.yaml"
        data: Any = read_yaml(source, repo.display(source))
        if not isinstance(data, dict) or not isinstance(data.get("target"), dict):
            raise ConfigError(f"{repo.display(source)}: no target: mapping to rename")
        target = data["target"]
        target["name"] = f"{target['name']}{suffix}"
        target["confirm"] = False  # a throwaway copy, never the environment that needs the confirmation
        if context is not None:
            target["context"] = context
            target.pop("host", None)
        # Each value as YAML reads it, as if written in the file by hand (a port is a number).
        values = {key: parse_yaml(value) for key, value in variables.get(name, {}).items()}
        data["variables"] = {**(data.get("variables") or {}), **values}
        header = f"# Throwaway copy of {repo.display(source)} (lmsops.bench.throwaway); removed with the run.\n"
        (folder / f"{name}.yaml").write_text(header + dump_yaml(data, sort_keys=False))
    return replace(repo, env_root=folder)
