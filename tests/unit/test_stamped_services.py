"""Every stamped service of this repository is at the template's last commit.

A template change that is committed without `nox -s update_services` leaves the services behind,
and the next update replays it onto them: generated files such as the hash-locked requirements
then conflict (seen: enrollment's locks after a template lock change). This catches it at once.
"""

from __future__ import annotations

import yaml

from lmsops.core.gitinfo import last_commit
from lmsops.core.paths import find_repo
from lmsops.templates.stamp import ANSWERS, TEMPLATE


def test_every_stamped_service_records_the_last_commit_of_the_template() -> None:
    repo = find_repo()
    template = last_commit(repo.root, str(TEMPLATE))
    assert template, f"git knows no commit of {TEMPLATE} (a shallow clone?)"
    stamped = sorted(repo.services.glob(f"*/{ANSWERS}"))
    assert stamped, "no stamped service found"
    behind = [path.parent.name for path in stamped if yaml.safe_load(path.read_text())["_commit"] != template]
    assert not behind, (
        f"{', '.join(behind)} not updated to the template's last commit {template[:12]}: "
        "commit the template change, then run `nox -s update_services` and commit its result"
    )
