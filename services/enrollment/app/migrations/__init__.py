"""The enrollment service's schema history: an Alembic script directory shipped in the image (docs/migrations.md).

Released migrations (versions/) are frozen: add a new one, never edit one.
"""

# The hand-written migrations before Alembic, each with the Alembic revision whose schema equals
# theirs: a database they migrated is stamped there, then upgraded (lms_runtime.migrations.adopt_legacy).
LEGACY_REVISIONS = {"0001_enrollments": "0001"}
