"""Targets: applying a model to Compose or to a Swarm, waiting until it converges, the containers
and tasks that run, status, and the check through the gateway that ends a deploy."""
