"""Drift: the declared side rendered by the deploy tools themselves (render, fake_engine), compared
field by field with what runs (specdiff), with one explicit list of allowed differences per target
(compose, swarm); compare.py is the entry point."""
