"""Formulas of derived figures and computed split sizes: parse, list the names, evaluate.

A formula is arithmetic (``+ - * /`` and parentheses) over numbers and names. A name is a
figure id of the card (``share-lighter``), ``splits.<name>``, ``classes.count``, or, in the
formula of a split, the bare name of another split (``all - train - validation``). A minus
between two names needs spaces around it: ``a-b`` is one id. Numbers are plain decimals
(``100``, ``0.5``), without thousands separators. Pure functions, no I/O.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from .errors import VisionDataError

__all__ = ["Formula", "FormulaError", "agrees", "parse"]

_NAME = re.compile(r"[a-z0-9][a-z0-9_]*(?:-[a-z0-9_]+)*(?:\.[a-z0-9_]+)?")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_OPERATORS = frozenset("+-*/()")
_BINARY = {ast.Add: float.__add__, ast.Sub: float.__sub__, ast.Mult: float.__mul__}
_ALLOWED = (
    ast.BinOp,
    ast.UnaryOp,
    ast.Constant,
    ast.Name,
    ast.Load,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.USub,
    ast.UAdd,
)


class FormulaError(VisionDataError, ValueError):
    """A formula is not arithmetic over numbers and names, or cannot be evaluated."""


@dataclass(frozen=True)
class Formula:
    """A parsed formula: its text, the names it uses (in order) and its syntax tree."""

    text: str
    names: tuple[str, ...]
    tree: ast.Expression

    def evaluate(self, values: Mapping[str, float]) -> float:
        """The formula's value with every name replaced by ``values[name]``."""
        missing = [n for n in self.names if n not in values]
        if missing:
            raise FormulaError(f"no value for {', '.join(missing)}")
        return _eval(self.tree.body, [float(values[n]) for n in self.names])


def _tokens(text: str) -> list[str]:
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in _OPERATORS:
            out.append(ch)
            i += 1
        else:
            m = _NAME.match(text, i)
            if not (m and re.search(r"[a-z]", m.group())):
                m = _NUMBER.match(text, i)
            if m is None:
                raise FormulaError(
                    f"formula {text!r}: unexpected {text[i : i + 12]!r} (expected numbers, names "
                    "such as splits.train or a figure id, and + - * / ( ))"
                )
            out.append(m.group())
            i = m.end()
    return out


def parse(text: str) -> Formula:
    """Parse ``text``; raises FormulaError naming what is wrong."""
    names: list[str] = []
    python = []
    for token in _tokens(text):
        if re.search(r"[a-z]", token):
            if token not in names:
                names.append(token)
            python.append(f"_v{names.index(token)}")
        else:
            python.append(token)
    if not python:
        raise FormulaError("formula is empty")
    try:
        tree = ast.parse(" ".join(python), mode="eval")
    except SyntaxError:
        raise FormulaError(f"formula {text!r} is not well-formed arithmetic") from None
    for node in ast.walk(tree.body):
        if not isinstance(node, _ALLOWED):
            raise FormulaError(f"formula {text!r} is not plain arithmetic (+ - * / only)")
    return Formula(text, tuple(names), tree)


def _eval(node: ast.expr, values: list[float]) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.Name):
        return values[int(node.id[2:])]
    if isinstance(node, ast.UnaryOp):
        inner = _eval(node.operand, values)
        return -inner if isinstance(node.op, ast.USub) else inner
    if isinstance(node, ast.BinOp):
        left, right = _eval(node.left, values), _eval(node.right, values)
        if isinstance(node.op, ast.Div):
            if right == 0:
                raise FormulaError("division by zero")
            return left / right
        return _BINARY[type(node.op)](left, right)
    raise FormulaError(f"cannot evaluate {ast.dump(node)}")  # parse() lets nothing else through


def agrees(computed: float, stated: float, *, whole: bool = False) -> bool:
    """Whether ``stated`` is ``computed`` written to the precision ``stated`` shows: rounded
    (within half a unit of its last decimal place) or truncated (up to one unit below), as
    published ratios are; or within 0.5 for a ``whole`` count."""
    if whole:
        return abs(computed - stated) <= 0.5
    exponent = Decimal(repr(float(stated))).as_tuple().exponent
    step = 10.0 ** int(exponent) if isinstance(exponent, int) else 0.0
    diff = computed - stated
    slack = 1e-9 * max(1.0, abs(stated))  # float error in the arithmetic itself
    return -0.5 * step - slack <= diff < step - slack or abs(diff) <= slack
