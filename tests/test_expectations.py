"""Drafted expectation suites (mlpipe.training.expectations, `mlpipe expectations draft`):
what a draft says about the training window, that real Great Expectations passes it on
the data it came from and fails it on broken data, and that drafting never overwrites a
reviewed suite by accident."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlpipe.core.errors import ConfigError
from mlpipe.core.project import Project
from mlpipe.core.validation import load_suite, validate_tables
from mlpipe.training.expectations import DraftRules, Roles, draft_suite, suite_text
from tests.helpers import make_project, run_cli


def table(rows: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "id": [f"r{i}" for i in range(rows)],
            "week": np.repeat(np.arange(1, 11), rows // 10),
            "size": rng.uniform(10, 20, rows).round(2),
            "count": rng.integers(0, 5, rows),
            "colour": rng.choice(["red", "blue"], rows),
            "note": np.where(rng.random(rows) < 0.1, None, "x"),
        }
    )


def by_column(suite: dict) -> dict[tuple[str | None, str], dict]:
    return {(e["kwargs"].get("column"), e["type"]): e for e in suite["expectations"]}


def test_draft_says_what_the_training_window_showed() -> None:
    whole = table()
    train = whole.loc[whole["week"] <= 6]
    suite = draft_suite("t", whole, train, Roles(key="id", time="week"))
    rules = by_column(suite)
    assert all(e["meta"]["notes"] for e in suite["expectations"])
    count = rules[(None, "expect_table_row_count_to_be_between")]["kwargs"]
    assert (count["min_value"], count["max_value"]) == (100, 400)
    size = rules[("size", "expect_column_values_to_be_between")]["kwargs"]
    low, high = train["size"].min(), train["size"].max()
    pad = 0.1 * (high - low)
    assert size["min_value"] == pytest.approx(low - pad) and size["max_value"] == pytest.approx(
        high + pad
    )
    counted = rules[("count", "expect_column_values_to_be_between")]["kwargs"]
    assert isinstance(counted["min_value"], int) and counted["min_value"] <= 0
    assert (
        size["mostly"] == 0.99
        and "99% of values"
        in rules[("size", "expect_column_values_to_be_between")]["meta"]["notes"]
    )
    week = rules[("week", "expect_column_values_to_be_between")]["kwargs"]
    assert week["min_value"] == 1 and week["max_value"] is None  # time goes on
    colours = rules[("colour", "expect_column_values_to_be_in_set")]["kwargs"]
    assert colours["value_set"] == ["blue", "red"]
    note = rules[("note", "expect_column_values_to_not_be_null")]
    share = train["note"].isna().mean()
    assert note["kwargs"]["mostly"] <= 1 - share - 0.05 + 0.01
    assert f"{int(train['note'].isna().sum())} of {len(train)}" in note["meta"]["notes"]
    assert "mostly" not in rules[("size", "expect_column_values_to_not_be_null")]["kwargs"]
    assert ("id", "expect_column_values_to_be_unique") in rules
    assert ("id", "expect_column_values_to_be_in_set") not in rules  # 200 values: no set
    assert json.loads(suite_text(suite)) == suite and suite_text(suite).endswith("}\n")


def test_draft_labels_and_windows() -> None:
    frame = pd.DataFrame(
        {
            "key": ["a", "b", "c", "d"],
            "y": pd.Series([0, 1, 1, 0], dtype="int8"),
            "split": ["train", "train", "test", "test"],
        }
    )
    suite = draft_suite(
        "features",
        frame,
        frame.iloc[:2],
        Roles(key="key", label="y", split="split", windows=("train", "test")),
    )
    rules = by_column(suite)
    assert "int8" in rules[("y", "expect_column_values_to_be_in_type_list")]["kwargs"]["type_list"]
    assert rules[("y", "expect_column_values_to_be_in_set")]["kwargs"]["value_set"] == [0, 1]
    mean = rules[("y", "expect_column_mean_to_be_between")]["kwargs"]
    assert mean["min_value"] < 0.5 < mean["max_value"]
    assert rules[("split", "expect_column_values_to_be_in_set")]["kwargs"]["value_set"] == [
        "train",
        "test",
    ]


def test_later_windows_that_outgrow_training_are_held_and_flagged() -> None:
    """Growth after the training window (a trending column, a new category, gaps) is
    widened into the draft, so it passes the data it came from, and the notes say so."""
    whole = pd.DataFrame(
        {
            "year": np.repeat([1, 2, 3, 4], 25),
            "capital": np.linspace(10, 400, 100),
            "firm": ["a", "b"] * 40 + ["c"] * 20,
            "extra": [1.0] * 75 + [None] * 25,
        }
    )
    train = whole.loc[whole["year"] == 1]
    suite = draft_suite("t", whole, train, Roles(time="year"))
    rules = by_column(suite)
    capital = rules[("capital", "expect_column_values_to_be_between")]
    assert (
        capital["kwargs"]["max_value"] >= 400 and "whole table reaches" in capital["meta"]["notes"]
    )
    firms = rules[("firm", "expect_column_values_to_be_in_set")]
    assert firms["kwargs"]["value_set"] == ["a", "b", "c"] and "['c']" in firms["meta"]["notes"]
    assert "mostly" in rules[("extra", "expect_column_values_to_not_be_null")]["kwargs"]
    assert validate_tables("t", {"t": whole}, {"t": suite}).success


def test_gx_passes_the_draft_on_its_data_and_fails_broken_data() -> None:
    whole = table()
    suite = draft_suite("t", whole, whole, Roles(key="id", time="week"), DraftRules(margin=0.1))
    assert validate_tables("t", {"t": whole}, {"t": suite}).success
    broken = whole.copy()
    broken.loc[:9, "size"] = 1000.0  # 5% of the rows: more than a long tail
    broken.loc[1, "colour"] = "green"
    broken.loc[2, "id"] = "r3"
    report = validate_tables("t", {"t": broken}, {"t": suite})
    failed = {(c.column, c.expectation) for c in report.failures}
    assert failed == {
        ("size", "expect_column_values_to_be_between"),
        ("colour", "expect_column_values_to_be_in_set"),
        ("id", "expect_column_values_to_be_unique"),
    }


def test_a_missing_column_is_named_not_an_internal_error() -> None:
    whole = table()
    suite = draft_suite("t", whole, whole, Roles(key="id", time="week"))
    suite["expectations"].append(
        {
            "type": "expect_compound_columns_to_be_unique",
            "kwargs": {"column_list": ["id", "shape", "size"]},
        }
    )
    report = validate_tables("t", {"t": whole.drop(columns=["size"])}, {"t": suite})
    on_size = [check for check in report.failures if check.column == "size"]
    assert on_size and all(check.observed == "column 'size' is missing" for check in on_size)
    compound = [c for c in report.failures if c.expectation.startswith("expect_compound")]
    assert compound[0].observed == "columns 'shape', 'size' are missing"
    assert "list index out of range" not in report.summary()


@pytest.mark.integration
def test_draft_command_on_a_project(tmp_path: Path) -> None:
    """On the toy project: refuses to overwrite, drafts raw suites that pass validation,
    and the validate step names the command when a suite is missing."""
    from tasks import draft, run_step

    root = make_project(tmp_path / "project")
    project = Project.load(root)
    raw = root / "configs" / "expectations" / "raw"
    before = (raw / "visits.json").read_text()
    with pytest.raises(ConfigError, match="--force"):
        draft.run(project, "raw")
    assert (raw / "visits.json").read_text() == before
    refused = run_cli(root, "mlpipe", "expectations", "draft", "features")
    assert refused.returncode == 2 and "--force" in refused.stderr
    result = draft.run(project, "raw", force=True)
    assert sorted(result["written"]) == [
        "configs/expectations/raw/stores.json",
        "configs/expectations/raw/visits.json",
    ]
    visits = load_suite(raw / "visits.json")
    assert all(e["meta"]["notes"] for e in visits["expectations"])
    assert run_step(["validate", "raw"], root)["failed"] == 0
    shutil.rmtree(raw)
    with pytest.raises(ConfigError, match="mlpipe expectations draft raw"):
        run_step(["validate", "raw"], root)
