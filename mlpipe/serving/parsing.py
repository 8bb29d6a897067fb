"""Request bodies to Python values, with limits: a hostile body is a 4xx naming where the
problem is, never an exception deep inside the service.

A request is a list of flat records, so real ones are shallow and their numbers short;
the limits below are far beyond any of them and far below what costs the parser (a
4,300+ digit integer, a 1,000-deep nesting) or later code (an unpaired surrogate cannot
be written to SQLite or hashed, an infinite float is no value) anything."""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_DEPTH = 32  # levels of nested arrays and objects
MAX_DIGITS = 30  # digits of one integer literal
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


class BadRequest(Exception):
    """What is wrong with a request: a status and a JSON-able detail."""

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class _Rejected:
    """A number the parser refused, left in place so the walk can name where it was."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _display(key: Any) -> Any:
    """A location element safe to echo in a JSON response (no unpaired surrogate)."""
    if isinstance(key, str):
        return key.encode("utf-8", "backslashreplace").decode("utf-8")
    return key


def _unencodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _walk(value: Any) -> list[dict[str, Any]]:
    """Problems of a parsed body (depth, refused numbers, unpaired surrogates), by location;
    iterative, so no depth can overflow the stack."""
    problems: list[dict[str, Any]] = []
    stack: list[tuple[Any, list[Any]]] = [(value, [])]
    while stack and len(problems) < 10:
        item, loc = stack.pop()
        if isinstance(item, _Rejected):
            problems.append({"loc": loc, "msg": item.reason})
        elif isinstance(item, str) and _unencodable(item):
            problems.append({"loc": loc, "msg": "string with an unpaired surrogate"})
        elif isinstance(item, dict | list) and len(loc) >= MAX_DEPTH:
            problems.append({"loc": loc, "msg": f"nested deeper than {MAX_DEPTH} levels"})
        elif isinstance(item, dict):
            for key, child in item.items():
                if _unencodable(key):
                    problems.append(
                        {"loc": [*loc, _display(key)], "msg": "key with an unpaired surrogate"}
                    )
                else:
                    stack.append((child, [*loc, key]))
        elif isinstance(item, list):
            stack.extend((child, [*loc, i]) for i, child in enumerate(item))
    return problems


def parse_json(body: bytes) -> Any:
    """The body's JSON value; ``BadRequest`` (400 malformed, 422 a refused value) otherwise."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadRequest(400, f"malformed JSON: the body is not UTF-8 ({error})") from None
    refused: list[_Rejected] = []

    def parse_int(digits: str) -> Any:
        if len(digits.lstrip("-")) > MAX_DIGITS:
            refused.append(_Rejected(f"integer of {len(digits)} digits (at most {MAX_DIGITS})"))
            return refused[-1]
        return int(digits)

    def parse_float(literal: str) -> Any:
        number = float(literal)
        if not math.isfinite(number):
            refused.append(_Rejected(f"number {literal[:40]} is out of range"))
            return refused[-1]
        return number

    def parse_constant(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    try:
        value = json.loads(
            text, parse_int=parse_int, parse_float=parse_float, parse_constant=parse_constant
        )
    except RecursionError:
        raise BadRequest(400, f"malformed JSON: nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as error:  # JSONDecodeError included
        raise BadRequest(400, f"malformed JSON: {error}") from None
    nesting = body.count(b"[") + body.count(b"{")
    if refused or nesting > MAX_DEPTH or _SURROGATE_ESCAPE.search(body):
        problems = _walk(value)
        if problems:
            raise BadRequest(422, problems)
    return value
