"""Conditions written in data: small boolean expressions over named values.

Registry priority rules (`registry/priority.csv`), instrument alerts and the assessment → module rules of
the program are all written as ``high_dose_90 and benzo_overlap_days_90d >= 1`` or ``phq9_9 >= 1``. One
parser serves them all, so every rule a programme edits is read the same way and refused the same way:
only names the caller declares, numbers, booleans, comparisons and and/or/not — nothing Python could run.

Evaluation over Python values uses three-valued logic because an unanswered question is unknown, not 0:
a comparison with a missing value is unknown (``None``), ``and``/``or``/``not`` follow Kleene's rules,
and the caller decides what an unknown condition means (an instrument alert reports "could not be
checked"; a module rule lists the values it was missing).
"""

from __future__ import annotations

import ast
from collections.abc import Container, Mapping
from decimal import Decimal
from typing import cast

from taperwise.errors import KnowledgeError

_ALLOWED_NODES = (
    ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.Compare, ast.Name, ast.Load,
    ast.Constant, ast.GtE, ast.Gt, ast.LtE, ast.Lt, ast.Eq, ast.NotEq,
)  # fmt: skip

Value = bool | int | float | Decimal | None


def parse_condition(text: str, names: Container[str], where: str, *, what: str = "column") -> ast.expr:
    """Parse a condition, allowing only the given names, numbers, booleans, comparisons, and/or/not.

    `where` names the file and line for the error message; `what` is what a name stands for there
    ("column", "value").
    """
    if text.strip().lower() == "true":
        return ast.Constant(True)
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise KnowledgeError(f"{where}: cannot read rule {text!r} ({exc.msg})") from exc
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            raise KnowledgeError(f"{where}: rule {text!r} uses {type(node).__name__}, which rules may not")
        if isinstance(node, ast.Name) and node.id not in names:
            raise KnowledgeError(f"{where}: rule {text!r} names unknown {what} {node.id!r}")
        if isinstance(node, ast.Constant) and not isinstance(node.value, (int, float, bool)):
            raise KnowledgeError(f"{where}: rule {text!r} has a constant that is not a number or boolean")
    return tree.body


def condition_names(expression: ast.expr) -> tuple[str, ...]:
    """The names a condition reads, in order of first appearance."""
    seen: dict[str, None] = {}
    for node in ast.walk(expression):
        if isinstance(node, ast.Name):
            seen.setdefault(node.id, None)
    return tuple(seen)


def evaluate_condition(expression: ast.expr, values: Mapping[str, Value]) -> bool | None:
    """True, False, or None when the answer depends on a value that is missing (``None`` or absent)."""
    result = _evaluate(expression, values)
    return None if result is None else bool(result)


def _evaluate(node: ast.expr, values: Mapping[str, Value]) -> Value:
    if isinstance(node, ast.Constant):
        return cast(Value, node.value)  # parse_condition admits only numbers and booleans
    if isinstance(node, ast.Name):
        return values.get(node.id)
    if isinstance(node, ast.UnaryOp):
        operand = _evaluate(node.operand, values)
        return None if operand is None else not operand
    if isinstance(node, ast.BoolOp):
        parts = [_evaluate(value, values) for value in node.values]
        if isinstance(node.op, ast.And):
            if any(part is not None and not part for part in parts):
                return False
            return None if any(part is None for part in parts) else True
        if any(part is not None and part for part in parts):
            return True
        return None if any(part is None for part in parts) else False
    if isinstance(node, ast.Compare):
        return _compare(node, values)
    raise KnowledgeError(f"cannot evaluate {type(node).__name__}")  # parse_condition refuses these


def _compare(node: ast.Compare, values: Mapping[str, Value]) -> Value:
    left = _evaluate(node.left, values)
    outcome: bool | None = True
    for operator, comparator in zip(node.ops, node.comparators, strict=True):
        right = _evaluate(comparator, values)
        if left is None or right is None:
            outcome = None if outcome is not False else False
        elif not _holds(operator, left, right):
            return False
        left = right
    return outcome


def _holds(
    operator: ast.cmpop, left: bool | int | float | Decimal, right: bool | int | float | Decimal
) -> bool:
    a, b = Decimal(str(left)), Decimal(str(right))
    if isinstance(operator, ast.GtE):
        return a >= b
    if isinstance(operator, ast.Gt):
        return a > b
    if isinstance(operator, ast.LtE):
        return a <= b
    if isinstance(operator, ast.Lt):
        return a < b
    if isinstance(operator, ast.Eq):
        return a == b
    return a != b
