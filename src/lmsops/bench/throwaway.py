"""Throwaway secret values for deployments that are not the real ones (test runs, benchmarks).

Staging and production read their secrets from the operator's environment (LMSOPS_STAGING_...).
A run that deploys renamed copies of them (lms-staging-bench, lms-staging-ie, ...) needs values,
never the operator's: random ones are set for the variables that are not set, and taken away after.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from lmsops.core.paths import Repo
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
def throwaway_secrets(repo: Repo) -> Iterator[None]:
    """Random values for the secret variables that are not set, for as long as the block runs."""
    saved = {name: os.environ.get(name) for name in secret_variables(repo)}
    for name in saved:
        os.environ.setdefault(name, secrets.token_urlsafe(18))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
