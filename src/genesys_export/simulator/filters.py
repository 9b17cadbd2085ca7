"""Boolean filters of analytics queries: `{type: and|or, clauses: [...], predicates: [...]}`.

Supported: dimension predicates with operators `matches` (the default), `exists` and
`notExists`, nested one level in clauses (the contract allows "up to two-levels"). Metric
and property predicates and `range` are refused with 400 rather than silently ignored:
a fake that ignores a filter would make a client's filter bug invisible.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from genesys_export.simulator.problems import bad_request, invalid_value

Lookup = Callable[[str], str | None]
_OPERATORS = ("matches", "exists", "notExists")
_TYPES = ("and", "or")


def validate_filter(spec: Any, dimensions: tuple[str, ...], where: str) -> None:
    """Raise a Problem unless `spec` is a filter this simulator can evaluate."""
    if not isinstance(spec, dict):
        raise bad_request(f"{where} must be an object with a type and predicates")
    if spec.get("type") not in _TYPES:
        raise invalid_value(spec.get("type"), "FilterTypeEnum", _TYPES)
    for clause in spec.get("clauses") or []:
        if not isinstance(clause, dict) or clause.get("type") not in _TYPES:
            raise bad_request(f"every clause of {where} needs type 'and' or 'or'")
        if not isinstance(clause.get("predicates"), list) or not clause["predicates"]:
            raise bad_request(f"every clause of {where} needs a non-empty predicates list")
        for predicate in clause["predicates"]:
            _validate_predicate(predicate, dimensions, where)
    for predicate in spec.get("predicates") or []:
        _validate_predicate(predicate, dimensions, where)


def _validate_predicate(predicate: Any, dimensions: tuple[str, ...], where: str) -> None:
    if not isinstance(predicate, dict):
        raise bad_request(f"a predicate of {where} is not an object")
    if predicate.get("type", "dimension") != "dimension" or "dimension" not in predicate:
        raise bad_request(
            f"{where}: only dimension predicates are supported by the simulator, got {predicate}"
        )
    if predicate["dimension"] not in dimensions:
        raise invalid_value(predicate["dimension"], "DimensionEnum", dimensions)
    operator = predicate.get("operator", "matches")
    if operator not in _OPERATORS:
        raise invalid_value(operator, "OperatorEnum", _OPERATORS)
    if "range" in predicate:
        raise bad_request(f"{where}: predicate ranges are not supported by the simulator")
    if operator == "matches" and not isinstance(predicate.get("value"), str):
        raise bad_request(
            f"{where}: a 'matches' predicate on {predicate['dimension']} needs a value"
        )


def matches(spec: dict[str, Any] | None, lookup: Lookup) -> bool:
    """Whether the thing described by `lookup` passes a validated filter (None passes)."""
    if not spec:
        return True
    results = [_clause_matches(clause, lookup) for clause in spec.get("clauses") or []]
    results += [_predicate_matches(p, lookup) for p in spec.get("predicates") or []]
    return _combine(spec["type"], results)


def _clause_matches(clause: dict[str, Any], lookup: Lookup) -> bool:
    return _combine(clause["type"], [_predicate_matches(p, lookup) for p in clause["predicates"]])


def _combine(kind: str, results: list[bool]) -> bool:
    if not results:
        return True
    return all(results) if kind == "and" else any(results)


def _predicate_matches(predicate: dict[str, Any], lookup: Lookup) -> bool:
    value = lookup(predicate["dimension"])
    operator = predicate.get("operator", "matches")
    if operator == "exists":
        return value is not None
    if operator == "notExists":
        return value is None
    return value is not None and value == predicate["value"]
