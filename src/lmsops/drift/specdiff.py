"""Deny-by-default comparison of two engine documents (a declared rendering and what runs).

Every field of both documents is compared. What may differ is named by one explicit list of
`Rule`s, each with its reason (docs/drift.md prints them): a field the engine fills in when the
declaration leaves it unset (`default`), a field that is not configuration (`ignore`), or a value
written in another shape on each side (`reshape`, `running`). A field on no list is compared.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Action = Literal["ignore", "default", "reshape", "running"]
Context = Mapping[str, Any]


@dataclass(frozen=True)
class Rule:
    """pattern: a field path as reports show it ('*' matches anything, '[]' is a list item).
    Default patterns are plain dotted paths: the field is filled in when the declaration leaves it unset."""

    pattern: str
    action: Action
    reason: str
    value: Any = None  # default: the engine's value, or a function of the context
    transform: Callable[[Any, Context], Any] | None = None  # reshape (both sides) / running (running side)


@dataclass(frozen=True)
class FieldDifference:
    path: str
    declared: Any
    running: Any


_PLAIN = re.compile(r"^[A-Za-z0-9_]+$")


def join(path: str, key: str) -> str:
    """A field path: dots between plain names, brackets around keys such as labels (org.lmsops.team)."""
    part = key if _PLAIN.match(key) else f"[{key}]"
    if not path:
        return part
    return f"{path}{part}" if part.startswith("[") else f"{path}.{part}"


def matches(pattern: str, path: str) -> bool:
    """'*' matches any run of characters (a network's name, a list item); everything else is literal."""
    return _compiled(pattern).fullmatch(path) is not None


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str]:
    # Every field of both documents is matched against every rule: building the expression per call
    # was most of a comparison's time (the rules are a fixed, small set of patterns).
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")))


def _rule(rules: Sequence[Rule], path: str, actions: set[str]) -> Rule | None:
    return next((r for r in rules if r.action in actions and matches(r.pattern, path)), None)


def _default(rule: Rule, context: Context) -> Any:
    return rule.value(context) if callable(rule.value) else rule.value


def apply_defaults(document: Any, rules: Sequence[Rule], context: Context) -> Any:
    """The declared side, completed with what the engine fills in for each unset default field."""
    for rule in rules:
        if rule.action != "default":
            continue
        *parents, key = rule.pattern.split(".")
        node = document
        for parent in parents:
            if not isinstance(node.get(parent), dict):
                node[parent] = {}
            node = node[parent]
        if empty(node.get(key)):
            node[key] = _default(rule, context)
    return document


def empty(value: Any) -> bool:
    """Go's JSON omits zero values on one side and writes them on the other: all mean 'not set'."""
    return value is None or value == "" or value == 0 or value is False or value == [] or value == {}


def normalise(value: Any, path: str, rules: Sequence[Rule], context: Context, side: str) -> Any:
    """Apply the rules to one side's document (side: 'declared' or 'running')."""
    actions = {"reshape", "running"} if side == "running" else {"reshape"}
    while (rule := _rule(rules, path, actions)) is not None and rule.transform is not None:
        value = rule.transform(value, context)
        actions.discard(rule.action)
    if side == "declared" and not path and isinstance(value, dict):
        value = apply_defaults(copy.deepcopy(value), rules, context)
    if isinstance(value, Mapping):
        kept = {}
        for key, item in value.items():
            child = join(path, str(key))
            if _rule(rules, child, {"ignore"}) is None:
                kept[str(key)] = normalise(item, child, rules, context, side)
        return kept
    if isinstance(value, list):
        return [normalise(item, f"{path}[]", rules, context, side) for item in value]
    return value


def compare(declared: Any, running: Any, path: str = "") -> list[FieldDifference]:
    """Every field where two normalised documents differ; maps are compared key by key."""
    if empty(declared) and empty(running):
        return []
    if isinstance(declared, Mapping) and isinstance(running, Mapping):
        found: list[FieldDifference] = []
        for key in sorted(set(declared) | set(running)):
            found += compare(declared.get(key), running.get(key), join(path, key))
        return found
    if isinstance(declared, Mapping) and empty(running):
        return compare(declared, {}, path)
    if isinstance(running, Mapping) and empty(declared):
        return compare({}, running, path)
    if declared != running:
        return [FieldDifference(path, declared, running)]
    return []


def show(value: Any) -> str:
    """A value in full, readable: scalars as they are, the rest as compact JSON."""
    if empty(value) and value is not False and value != 0:
        return "(not set)"
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(", ", ": "))


def sorted_by_target(value: Any, _context: Context) -> Any:
    """A list of mounts, in the order of their targets."""
    if not isinstance(value, list):
        return value
    return sorted(value, key=lambda item: str(item.get("Target", "")) if isinstance(item, dict) else str(item))


def env_as_map(value: Any, _context: Context) -> Any:
    """['K=V', ...] -> {'K': 'K=V'}: variables compared one by one, in any order (an empty value is
    still a value: 'K=' differs from no K)."""
    if not isinstance(value, list):
        return value
    return {str(entry).partition("=")[0]: str(entry) for entry in value}
