"""Print the names of the variables an environment reads its secrets from (LMSOPS_STAGING_...), one
per line: `python -m tests.quickstart.staging_secrets [ENV]` from the repository root.

The quickstart run calls it in its container, with the deploy session's Python, once the new service
is stamped: the names come from the engine's own reading of env/<ENV>.yaml and every service's
secrets, so a new service's secret is in them with no edit here."""

from __future__ import annotations

import sys

from lmsops.core.paths import find_repo
from lmsops.environments.config import load_environment
from lmsops.environments.model import model_services
from lmsops.environments.stack import secret_files


def secret_variables(env_name: str) -> list[str]:
    repo = find_repo()
    env = load_environment(repo, env_name, model_services(repo))
    sources = [env.secret_source(name) for name in secret_files(repo)]
    return sorted({source.env for source in sources if source is not None and source.env is not None})


if __name__ == "__main__":
    names = secret_variables(sys.argv[1] if len(sys.argv) > 1 else "staging")
    if not names:
        sys.exit("no secret of this environment is read from an environment variable")
    print("\n".join(names))
