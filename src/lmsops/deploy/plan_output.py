"""A plan as people read it (one block per service) and as programs read it (--json, stable keys)."""

from __future__ import annotations

from typing import Any

from lmsops.deploy.plan import Change, Plan, ServicePlan

_MARK = {"add": "+", "remove": "-", "change": "~"}
_UNNAMED = {"image", "replicas"}  # their `what` is their kind: the line needs no name


def summary(plan: Plan) -> str:
    head = f"plan: {plan.env} ({plan.where})"
    if plan.first_deploy:
        return f"{head}: first deploy: everything is new"
    if plan.empty:
        return f"{head}: nothing to change (what runs is what this commit would deploy)"
    counts = {action: sum(1 for s in plan.services if s.action == action) for action in ("add", "change", "remove")}
    said = ", ".join(f"{n} to {action}" for action, n in counts.items() if n)
    return f"{head}: {said}"


def _value(text: str) -> str:
    return text if text else "(none)"


def change_line(change: Change) -> str:
    if change.kind == "environment":
        return change.what  # names only: a variable's value may be a secret
    if change.kind == "secrets":  # the version is a hash of the value, never the value
        if not change.old:
            return f"{change.what}: new secret (version {change.new})"
        if not change.new:
            return f"{change.what}: no longer used"
        return f"{change.what}: version {change.old} -> {change.new}"
    values = f"{_value(change.old)} -> {_value(change.new)}"
    return values if change.what in _UNNAMED else f"{change.what}: {values}"


def _service_lines(service: ServicePlan) -> list[str]:
    title = f"  {_MARK[service.action]} {service.service}"
    if service.action == "add":
        title += " (new service)"
    elif service.action == "remove":
        title += " (not declared any more: removed)"
    width = max((len(c.kind) for c in service.changes), default=0)
    return [title, *(f"      {c.kind.ljust(width)}  {change_line(c)}" for c in service.changes)]


def text(plan: Plan) -> str:
    lines = [summary(plan)]
    for service in plan.services:
        lines += _service_lines(service)
    return "\n".join(lines)


def as_json(plan: Plan) -> dict[str, Any]:
    """Keys documented in docs/environments.md ("--json"); values as printed (units, short digests)."""
    return {
        "env": plan.env,
        "target": plan.where,
        "first_deploy": plan.first_deploy,
        "changes": not plan.empty,
        "services": [
            {
                "service": service.service,
                "action": service.action,
                "changes": [{"kind": c.kind, "what": c.what, "old": c.old, "new": c.new} for c in service.changes],
            }
            for service in plan.services
        ],
    }
