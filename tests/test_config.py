"""params.yaml, configs/ and the domain contract are validated when a project loads: a bad
key, a column that does not exist or a missing part of the contract is named, before any
work starts."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import yaml

from mlpipe.core.errors import ConfigError
from mlpipe.core.params import Window, load_params, parse_params
from mlpipe.core.project import Project
from mlpipe.core.timeaxis import TimeAxis
from tests.helpers import TOY, make_project, update_params


def toy_params() -> dict:
    return yaml.safe_load((TOY / "project" / "params.yaml").read_text())


@pytest.fixture(scope="module")
def project_root(tmp_path_factory) -> Path:
    return make_project(tmp_path_factory.mktemp("config") / "project", commit=False)


def test_the_toy_project_loads(project_root):
    project = Project.load(project_root)
    assert project.domain.name == "toy shop"
    assert project.time_column == "week" and project.slices == ["region", "week"]
    assert project.model_params.max_iter == 30
    assert "split" in project.table_columns()


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda p: p["split"].update(valid=[12, 13]), "valid must start after train"),
        (lambda p: p["split"].update(train=[1, 2, 3]), "split.train"),
        (lambda p: p["split"].update(colour="red"), "split.colour"),
        (lambda p: p["evaluate"].update(threshold=1.5), "evaluate.threshold"),
        (lambda p: p["ingest"].update(sample_fraction=0), "ingest.sample_fraction"),
        (lambda p: p.update(features=[]), "features"),
        (lambda p: p["split"].pop("valid"), "split.valid"),
        (lambda p: p.pop("split"), "split"),
    ],
)
def test_bad_params_name_the_key(change, named):
    params = toy_params()
    change(params)
    with pytest.raises(ConfigError) as error:
        parse_params(params)
    assert named in str(error.value)


def test_model_sections_are_validated_by_the_domains_schema(tmp_path):
    root = make_project(tmp_path / "project", commit=False)
    update_params(root, {"model": {"max_iter": "many"}})
    with pytest.raises(ConfigError, match=r"model\.max_iter"):
        Project.load(root)
    update_params(root, {"model": {"max_iter": 30, "n_trees": 3}})
    with pytest.raises(ConfigError, match=r"model\.n_trees"):
        Project.load(root)


@pytest.mark.parametrize(
    ("where", "change", "named"),
    [
        ("configs/gate.yaml", {"inclusion": {"groups": ["city"], "max_gap": 0.2}}, "city"),
        ("configs/monitoring.yaml", {"quality": {"slices": ["city"]}}, "city"),
        ("params.yaml", {"evaluate": {"slices": ["region", "city"]}}, "city"),
        ("params.yaml", {"baseline": {"features": ["wingspan"]}}, "wingspan"),
        ("params.yaml", {"split": {"column": "day", "train": [1, 12], "test": [14, 15]}}, "day"),
        ("params.yaml", {"features": ["minutes", "colour"]}, "colour"),
        ("params.yaml", {"features": ["minutes", "spent"]}, "spent"),
    ],
)
def test_a_setting_naming_a_missing_column_fails_at_load(tmp_path, where, change, named):
    root = make_project(tmp_path / "project", commit=False)
    path = root / where
    data = yaml.safe_load(path.read_text())
    for key, value in change.items():
        data[key] = {**data[key], **value} if isinstance(value, dict) else value
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as error:
        Project.load(root)
    assert named in str(error.value) and "do not exist" in str(error.value)


def test_missing_or_broken_params_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_params(tmp_path / "params.yaml")
    (tmp_path / "params.yaml").write_text("model: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_params(tmp_path / "params.yaml")
    (tmp_path / "params.yaml").write_text("- a list")
    with pytest.raises(ConfigError, match="mapping"):
        load_params(tmp_path / "params.yaml")


def test_domain_options_are_validated_by_the_domain(tmp_path):
    root = make_project(tmp_path / "project", commit=False)
    update_params(root, {"domain": {"package": "toydomain", "options": {"weeks": "many"}}})
    with pytest.raises(ConfigError, match=r"domain\.options\.weeks"):
        Project.load(root)
    update_params(root, {"domain": {"package": "no_such_domain_package", "options": {}}})
    with pytest.raises(ConfigError, match="cannot be imported"):
        Project.load(root)


def test_an_incomplete_domain_package_lists_every_missing_part(tmp_path, monkeypatch):
    package = tmp_path / "halfdone"
    package.mkdir()
    (package / "__init__.py").write_text(
        textwrap.dedent(
            """
            from pydantic import BaseModel
            from mlpipe import Domain

            class Options(BaseModel):
                pass

            def domain(options):
                return Domain(name="half", tables=("t",), main_table="t", label="y",
                              key="k", time="when", serving_fields=("when",),
                              features=object())
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(sys.modules, "halfdone", None)  # this test's own import, then gone
    del sys.modules["halfdone"]
    root = make_project(tmp_path / "project", commit=False)
    update_params(root, {"domain": {"package": "halfdone", "options": {}}})
    with pytest.raises(ConfigError) as error:
        Project.load(root)
    message = str(error.value)
    for part in (
        "load_sources",
        "source_info",
        "prepare",
        "build_context",
        "enrich",
        "model",
        "card",
        "features",
    ):
        assert f"  {part}" in message, part


def test_a_package_without_the_two_entry_names_is_refused(tmp_path, monkeypatch):
    (tmp_path / "bare").mkdir()
    (tmp_path / "bare" / "__init__.py").write_text("TABLES = {}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(sys.modules, "bare", None)  # this test's own import, then gone
    del sys.modules["bare"]
    root = make_project(tmp_path / "project", commit=False)
    update_params(root, {"domain": {"package": "bare", "options": {}}})
    with pytest.raises(ConfigError, match="lacks Options and domain"):
        Project.load(root)


def test_windows_by_range_list_or_dates():
    axis = TimeAxis()
    positions = pd.Series([1.0, 2.0, 3.0, 7.0])
    assert Window.model_validate([2, 3]).contains(positions, axis).tolist() == [
        False,
        True,
        True,
        False,
    ]
    assert Window.model_validate({"from": 1, "to": 2}).contains(positions, axis).sum() == 2
    assert Window.model_validate({"values": [1, 7]}).contains(positions, axis).tolist() == [
        True,
        False,
        False,
        True,
    ]
    months = TimeAxis("M")
    dates = months.positions(pd.Series(["2020-01-05", "2020-02-10", "2020-03-01", None]))
    window = Window.model_validate({"from": "2020-01-01", "to": "2020-02-29"})
    assert window.contains(dates, months).tolist() == [True, True, False, False]
    with pytest.raises(ValueError):
        Window.model_validate({"first": 1, "last": 2, "values": [3]})


def test_date_windows_are_checked_for_order():
    params = toy_params()
    params["split"] = {
        "period": "M",
        "train": {"from": "2020-01-01", "to": "2020-06-30"},
        "test": {"from": "2020-06-01", "to": "2020-07-31"},
    }
    params["evaluate"]["threshold"] = 0.5
    with pytest.raises(ConfigError, match="test must start after train"):
        parse_params(params)
    params["split"]["test"] = {"from": "2020-07-01", "to": "2020-07-31"}
    assert parse_params(params).split.valid is None
