"""`nox -s resilience`: zero-downtime updates and survivable faults, measured under load
(docs/reliability.md)."""
