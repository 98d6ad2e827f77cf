"""Deploying: `deploy` (validate, build once, publish, apply to the target, wait, record) and
`promote` (deploy to one environment the digests another runs)."""
