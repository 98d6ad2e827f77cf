"""Environments: env/*.yaml and their schema, the Compose/Swarm stack files, and the resolved,
validated model of an environment that every target deploys."""
