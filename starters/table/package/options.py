"""Options of the table starter: ``domain.options`` in params.yaml. They describe your
table (where it is, which column is the label, the key, the time, the features), so a
new table needs no code."""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
}
RULE = re.compile(r"^\s*(not in|in|==|!=|>=|<=|>|<)\s*(.+?)\s*$")


def parse_rule(rule: str) -> tuple[str, Any]:
    """``'>= 15'`` -> (">=", 15); ``'== "male"'`` -> ("==", "male"); ``'in ["a", "b"]'``."""
    match = RULE.match(rule)
    if not match:
        raise ValueError(
            f"label rule {rule!r}: expected an operator ({', '.join(OPERATORS)}, in, not in) "
            'and a value, e.g. ">= 15" or \'== "male"\''
        )
    op, text = match.groups()
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise ValueError(
            f'label rule {rule!r}: {text!r} is not a literal (quote strings: "male")'
        ) from None
    if op.endswith("in") and not isinstance(value, list | tuple | set):
        raise ValueError(f'label rule {rule!r}: `{op}` needs a list, e.g. in ["a", "b"]')
    return op, value


class Label(BaseModel):
    """The 0/1 label: 1 where ``column`` satisfies ``rule``; rows where it is missing
    are unlabelled and dropped."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    column: str
    rule: str
    name: str = Field("label", description="the label column of the feature table")

    @field_validator("rule")
    @classmethod
    def _parses(cls, rule: str) -> str:
        parse_rule(rule)
        return rule


class Options(BaseModel):
    """``domain.options`` in params.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    file: str = Field(description="CSV or Parquet file, relative to the project folder")
    table: str | None = Field(None, description="the table's name (default: the file's stem)")
    label: Label
    key: str | None = Field(None, description="a unique column; default: a hash of the row")
    time: str = Field(description="an integer or date-like column (dates: set split.period)")
    time_unit: str = "period"
    numeric: list[str] = Field(default_factory=list, description="numeric feature columns")
    categorical: list[str] = Field(default_factory=list, description="categorical columns")
    fields: list[str] = Field(
        default_factory=list, description="other columns requests carry (custom features)"
    )
    identifiers: list[str] = Field(default_factory=list, description="never features")
    sensitive: list[str] = Field(default_factory=list)
    outcomes: list[str] = Field(default_factory=list, description="known only after the fact")
    slices: list[str] = Field(default_factory=list)
    intended_use: str = "Predicts the label from one row of the table."
    limits: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> Options:
        declared = [*self.numeric, *self.categorical]
        twice = sorted({c for c in declared if declared.count(c) > 1})
        if twice:
            raise ValueError(f"columns declared twice as features: {twice}")
        hidden = sorted(set(declared) & {self.label.column, *self.outcomes, *self.identifiers})
        if hidden:
            raise ValueError(f"{hidden} are the label's column, outcomes or identifiers")
        if self.label.column in self.serving_fields():
            raise ValueError(f"label column {self.label.column!r} cannot be a request field")
        return self

    @property
    def table_name(self) -> str:
        stem = re.sub(r"\W+", "_", self.file.rsplit("/", 1)[-1].split(".", 1)[0])
        return self.table or stem or "table"

    def serving_fields(self) -> tuple[str, ...]:
        """The raw columns a prediction request carries (the time among them)."""
        key = [self.key] if self.key else []
        columns = [
            self.time,
            *key,
            *self.numeric,
            *self.categorical,
            *self.fields,
            *self.identifiers,
            *self.sensitive,
            *self.slices,
        ]
        return tuple(dict.fromkeys(columns))
