"""The table starter's own tests: the label rule, the row key, the options' checks and
the domain built from them. They import the package relatively, so they run under
whatever name the project gave it."""

from __future__ import annotations

import pandas as pd
import pytest
from pydantic import ValidationError

from mlpipe.core.errors import DataError

from .. import domain, feature_registry
from ..features import registry as custom
from ..options import Options, parse_rule
from ..prepare import HASH_KEY, enrich, label_values, prepare, row_hash
from ..source import read_table

BASE = {
    "file": "data/source/penguins.csv",
    "label": {"column": "sex", "rule": '== "male"'},
    "time": "year",
    "numeric": ["mass"],
    "categorical": ["island"],
}


def options(**changes: object) -> Options:
    return Options.model_validate({**BASE, **changes})


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "year": [2007, 2007, 2008, 2008],
            "mass": [3500.0, None, 4100.0, 3900.0],
            "island": ["Dream", "Biscoe", "Dream", "Dream"],
            "sex": ["male", "female", None, "female"],
        }
    )


@pytest.mark.parametrize(
    ("rule", "values", "expected"),
    [
        ('== "male"', ["male", "female"], [1, 0]),
        (">= 15", [3, 15, 40], [0, 1, 1]),
        ("< 0.5", [0.1, 0.9], [1, 0]),
        ('in ["a", "b"]', ["a", "c", "b"], [1, 0, 1]),
        ('not in ["a"]', ["a", "c"], [0, 1]),
    ],
)
def test_label_rules(rule: str, values: list, expected: list) -> None:
    assert label_values(pd.Series(values), rule).tolist() == expected


@pytest.mark.parametrize("rule", ["male", "== male", "in 3", "~= 2"])
def test_a_bad_rule_is_named_at_load(rule: str) -> None:
    with pytest.raises(ValidationError, match="label rule"):
        options(label={"column": "sex", "rule": rule})


def test_options_refuse_leaks_and_repeats() -> None:
    with pytest.raises(ValidationError, match="label's column"):
        options(numeric=["mass", "sex"])
    with pytest.raises(ValidationError, match="declared twice"):
        options(categorical=["island", "mass"])
    assert parse_rule(">= 15") == (">=", 15)


def test_the_row_key_is_stable_across_file_and_request_values() -> None:
    """A request (JSON numbers, ints for whole floats) hashes like the row read from the
    file, and the key ignores the label's column."""
    fields = options().serving_fields()
    from_file = row_hash(frame(), fields)
    request = pd.DataFrame([{"year": 2007, "mass": 3500, "island": "Dream"}])
    assert row_hash(request, fields).iloc[0] == from_file.iloc[0]
    assert from_file.is_unique and from_file.str.len().eq(16).all()
    served = enrich(request, None, options())
    assert served[HASH_KEY].iloc[0] == from_file.iloc[0]


def test_prepare_labels_rows_and_drops_the_unlabelled() -> None:
    prepared, counts = prepare({"penguins": frame()}, options())
    assert counts == {"rows": 4, "unlabelled": 1, "repeated_keys": 0, "kept": 3}
    assert prepared["label"].tolist() == [1, 0, 0]
    assert "sex" not in prepared.columns and HASH_KEY in prepared.columns


def test_the_domain_registers_declared_and_custom_features() -> None:
    built = domain(options(key=None))
    assert built.main_table == "penguins" and built.key == HASH_KEY
    assert built.features.kinds(["mass", "island"]) == {"mass": "numeric", "island": "categorical"}
    assert set(custom.names()) <= set(feature_registry(options()).names())
    assert "sex" in built.outcomes


def test_a_table_file_reads_or_fails_clearly(tmp_path) -> None:
    path = tmp_path / "t.csv"
    frame().to_csv(path, index=False)
    assert len(read_table(path)) == 4
    with pytest.raises(DataError, match="does not exist"):
        read_table(tmp_path / "missing.csv")
    with pytest.raises(DataError, match=r"\.csv or \.parquet"):
        read_table(tmp_path / "t.xlsx")
