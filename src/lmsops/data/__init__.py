"""Backups and restores of the services' databases (docs/backups.md).

manifest: what a backup is (the dump's checksum, size and origin) and how it is checked; store:
where an environment keeps its backups (env/<name>.yaml `backups:`); jobs: the one-off PostgreSQL
containers that dump, check and restore; backup and restore: the commands. A sibling of
lmsops.deploy: it uses the targets and the environments, and only the CLI uses it.
"""
