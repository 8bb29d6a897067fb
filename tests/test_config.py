"""params.yaml is validated into a typed object; a bad key is named in the error."""

from __future__ import annotations

import pytest
import yaml

from mlpipe.core.errors import ConfigError
from mlpipe.core.params import load_params, parse_params
from tests.helpers import REPO


def raw_params() -> dict:
    return yaml.safe_load((REPO / "params.yaml").read_text())


def test_shipped_params_are_valid(params):
    assert params.domain.package == "flights"
    assert params.split.train[0] <= params.split.train[1] < params.split.valid[0]


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda p: p["model"].update(learning_rate=-1), "model.learning_rate"),
        (lambda p: p["model"].update(n_trees=10), "model.n_trees"),
        (lambda p: p.pop("split"), "split"),
        (lambda p: p["split"].update(valid=[8, 9]), "valid must start after train"),
        (lambda p: p["baseline"].update(features=["wingspan"]), "wingspan"),
        (lambda p: p["evaluate"].update(threshold=1.5), "evaluate.threshold"),
        (lambda p: p["ingest"].update(sample_fraction=0), "ingest.sample_fraction"),
        (lambda p: p.update(features=[]), "features"),
    ],
)
def test_bad_params_name_the_key(change, named):
    params = raw_params()
    change(params)
    with pytest.raises(ConfigError) as error:
        parse_params(params)
    assert named in str(error.value)


def test_missing_or_broken_params_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_params(tmp_path / "params.yaml")
    (tmp_path / "params.yaml").write_text("model: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_params(tmp_path / "params.yaml")
    (tmp_path / "params.yaml").write_text("- a list")
    with pytest.raises(ConfigError, match="mapping"):
        load_params(tmp_path / "params.yaml")


def test_domain_options_are_validated_by_the_domain(params):
    from mlpipe.core.domain import domain_options, load_domain

    raw = raw_params()
    raw["domain"]["options"]["late_minutes"] = "soon"
    with pytest.raises(ConfigError, match=r"domain\.options\.late_minutes"):
        domain_options(load_domain("flights"), parse_params(raw))
    with pytest.raises(ConfigError, match="cannot be imported"):
        load_domain("no_such_domain_package")
