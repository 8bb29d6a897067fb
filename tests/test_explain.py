"""`mlpipe explain` (checklist I5): one example followed through enrich, features, model
and contributions, on the toy domain; the Shapley arithmetic on functions whose values
are known."""

from __future__ import annotations

import json
from math import isclose
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlpipe.core.project import Project
from mlpipe.core.registry import Registry
from mlpipe.serving.predictionlog import connect
from mlpipe.training.explain import shapley
from tasks.explain import run as explain
from tests.helpers import run_cli

pytestmark = pytest.mark.checklist("I5")


def linear_with_interaction(frame: pd.DataFrame) -> np.ndarray:
    """f = a + 2b - c + ab + 0.5 red + ab red (red: colour is "red")."""
    a, b, c = (frame[name].to_numpy(dtype=float) for name in "abc")
    red = (frame["colour"] == "red").to_numpy()
    return a + 2 * b - c + a * b + 0.5 * red + a * b * red


KINDS = {"a": "numeric", "b": "numeric", "c": "numeric", "colour": "categorical"}
X = {"a": 1.0, "b": 2.0, "c": 3.0, "colour": "red"}
REFERENCE = {"a": 0.0, "b": 0.0, "c": 3.0, "colour": "blue"}


def test_exact_shapley_values_match_the_known_answer() -> None:
    result = shapley(linear_with_interaction, X, REFERENCE, KINDS)
    # linear terms go to their own feature, the interaction ab = 2 is split in halves,
    # the three-way ab red = 2 in thirds; c equals the reference so it gets nothing
    expected = {"a": 1 + 1 + 2 / 3, "b": 4 + 1 + 2 / 3, "c": 0.0, "colour": 0.5 + 2 / 3}
    assert result.values == pytest.approx(expected)
    assert result.base == pytest.approx(-3.0)
    assert result.output == pytest.approx(6.5)
    assert sum(result.values.values()) + result.base == pytest.approx(result.output, abs=1e-12)
    assert "exact" in result.method


def test_sampled_shapley_values_keep_the_sum_and_approach_the_exact_ones() -> None:
    """Above the exact limit: permutation sampling, seeded, same sum property."""

    def nonlinear(frame: pd.DataFrame) -> np.ndarray:
        a, b, c = (frame[name].to_numpy(dtype=float) for name in "abc")
        return np.tanh(a * b - c) + 0.3 * a * b * c

    kinds = {name: "numeric" for name in "abc"}
    x, reference = {"a": 1.5, "b": -2.0, "c": 0.5}, {"a": 0.0, "b": 0.5, "c": -1.0}
    exact = shapley(nonlinear, x, reference, kinds)
    sampled = shapley(nonlinear, x, reference, kinds, max_exact=0, permutations=400, seed=3)
    again = shapley(nonlinear, x, reference, kinds, max_exact=0, permutations=400, seed=3)
    assert "400 permutations" in sampled.method and "seed 3" in sampled.method
    assert sampled.values == again.values  # reproducible
    assert sum(sampled.values.values()) + sampled.base == pytest.approx(sampled.output, abs=1e-12)
    for name in kinds:
        assert sampled.values[name] == pytest.approx(exact.values[name], abs=0.05)


def test_many_features_use_one_batched_call_each() -> None:
    calls: list[int] = []

    def additive(frame: pd.DataFrame) -> np.ndarray:
        calls.append(len(frame))
        return frame.to_numpy(dtype=float) @ np.arange(frame.shape[1], dtype=float)

    for n, rows in ((16, 2**16), (18, 256 * 19)):
        kinds = {f"f{i}": "numeric" for i in range(n)}
        result = shapley(
            additive, dict.fromkeys(kinds, 1.0), dict.fromkeys(kinds, 0.0), kinds, permutations=256
        )
        assert calls.pop() == rows and not calls
        assert list(result.values.values()) == pytest.approx(list(range(n)))


@pytest.fixture
def project(released: Path) -> Path:
    """A released toy project of the test's own (conftest.released)."""
    return released


def holdout_record(root, visit_id: int) -> dict:
    visits = pd.read_parquet(root / "data" / "raw" / "visits.parquet")
    row = visits.loc[visits["visit_id"] == visit_id].drop(columns="spent").iloc[0]
    return {
        name: (value.item() if hasattr(value, "item") else value) for name, value in row.items()
    }


@pytest.mark.integration
@pytest.mark.xdist_group("released")
def test_explain_a_logged_prediction(project) -> None:
    """Log a real prediction through the service, then explain it by its key: the steps,
    the model's answer as served, contributions that add up, a page and a chart."""
    from mlpipe.serving.service import PredictionService

    loaded = Project.load(project)
    record = holdout_record(project, 5000)  # week 17: the holdout window
    reference_pages = float(loaded.feature_table("train")["pages"].median())
    record["pages"] = reference_pages  # at the reference: contributes exactly nothing
    service = PredictionService(project, loaded.configs.serving.model_copy(update={"mode": "off"}))
    try:
        answer = service.predict([record])["predictions"][0]
    finally:
        service.close()
    assert answer["key"] == "v5000"

    result = explain(loaded, "v5000")
    trace = result["trace"]
    assert trace.key == "v5000" and trace.version == "1"
    assert trace.raw["minutes"] == record["minutes"]
    assert trace.enriched["store_size"] > 0  # joined from the stores table
    assert trace.scored_source == "logged" and trace.scored == trace.features
    assert trace.probability == pytest.approx(answer["probability"], abs=1e-6)
    assert trace.decision == answer["decision"] == int(trace.probability >= trace.threshold)
    shares = trace.contributions.values
    assert set(shares) == {"minutes", "pages", "store_size", "region"}
    assert sum(shares.values()) + trace.contributions.base == pytest.approx(
        trace.probability, abs=1e-9
    )
    assert shares["pages"] == 0.0
    # the base is the model at the reference point, computed independently
    model = Registry(loaded.paths).load_model("1")
    at_reference = pd.DataFrame([trace.reference])[list(trace.features)]
    assert isclose(model.predict_proba(at_reference)[0, 1], trace.contributions.base, abs_tol=1e-9)

    page = result["html"].read_text()
    assert "v5000" in page and "exact Shapley" in page and "v5000.png" in page
    assert f"<td>{record['customer_id']}</td>" not in page  # identifiers as pseudonyms only
    assert result["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.integration
@pytest.mark.xdist_group("released")
def test_explain_cli_with_a_record_and_with_a_bad_key(project, tmp_path) -> None:
    record = holdout_record(project, 5100)
    path = tmp_path / "record.json"
    path.write_text(json.dumps(record))
    done = run_cli(project, "mlpipe", "explain", "--record", str(path), "--version", "1")
    assert done.returncode == 0, done.stderr
    for step in ("1. Raw fields", "2. Enriched row", "3. Features", "4. Contributions"):
        assert step in done.stdout
    assert (project / "reports" / "explain" / "v5100.html").is_file()
    assert (project / "reports" / "explain" / "v5100.png").is_file()

    connect(project / Project.load(project).configs.serving.log_path).close()  # a log exists
    unknown = run_cli(project, "mlpipe", "explain", "v999999")
    assert unknown.returncode == 1
    assert "'v999999' is not in the prediction log" in unknown.stderr
    assert "Traceback" not in unknown.stderr

    del record["minutes"]
    path.write_text(json.dumps(record))
    partial = run_cli(project, "mlpipe", "explain", "--record", str(path))
    assert partial.returncode == 1 and "lacks serving fields ['minutes']" in partial.stderr
