"""Feature policy, on toy projects whose domain package each test changes the documented
way (a function in toydomain/features.py, a line in params.yaml). Every step runs as a
`mlpipe` subprocess, so each project's own package is imported fresh.

D2 unhelpful features fail or warn at the gate; D3 a feature over its cost budget fails
featurize; D4 the label, outcomes and identifiers never reach a feature function, the
feature table holds exactly the declared columns, a leaking model trips the leak alarm;
D6 a new feature goes from one function to a gated, registered model."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from mlpipe.core.paths import ProjectPaths
from mlpipe.core.registry import Registry
from tests.helpers import git_commit, make_project, run_cli, run_pipeline_apart, update_params

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("feature_policy")]

BASE_FEATURES = ["minutes", "pages", "store_size", "region"]


def add_feature(root: Path, name: str, body: str, kind: str = "numeric") -> None:
    """One decorated function in the toy package's features.py (the documented way)."""
    path = root / "toydomain" / "features.py"
    path.write_text(
        path.read_text()
        + f"\n\n@registry.{kind}\ndef {name}(frame: pd.DataFrame) -> pd.Series:\n"
        + f'    """{name} (added by a test)."""\n'
        + "".join(f"    {line}\n" for line in body.splitlines())
    )


def use_features(root: Path, *names: str) -> None:
    update_params(root, {"features": [*BASE_FEATURES, *names]})


def mlpipe(root: Path, *args: str):
    return run_cli(root, "mlpipe", *args)


@pytest.fixture(scope="module")
def ingested(tmp_path_factory) -> Path:
    """A toy project with its raw data ingested and validated."""
    root = make_project(tmp_path_factory.mktemp("policy") / "project")
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    done = run_cli(root, "dvc", "repro", "validate_raw")  # DVC owns (and ignores) data/raw
    assert done.returncode == 0, done.stderr[-2000:]
    return root


@pytest.fixture
def variant(ingested, tmp_path) -> Path:
    """A copy of the ingested project this test may change."""
    return Path(shutil.copytree(ingested, tmp_path / "project", symlinks=True))


@pytest.mark.checklist("D3")
def test_a_feature_over_its_cost_budget_fails_featurize_with_its_name_and_cost(variant):
    add_feature(variant, "slow_pages", "import time\ntime.sleep(0.3)\nreturn frame['pages']")
    use_features(variant, "slow_pages")
    update_params(variant, {"feature_budget": {"seconds_per_100k_rows": 1.0}})
    done = mlpipe(variant, "stage", "featurize")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "features over the cost budget" in done.stderr
    assert "slow_pages:" in done.stderr and "s per 100k rows > 1" in done.stderr
    assert "minutes:" not in done.stderr
    costs = json.loads((variant / "reports" / "feature_costs.json").read_text())
    assert costs["slow_pages"]["seconds"] >= 0.3 and costs["slow_pages"]["over_budget"]
    assert costs["slow_pages"]["seconds_per_100k_rows"] > 1.0
    assert not costs["minutes"]["over_budget"] and costs["minutes"]["bytes_per_row"] < 9
    assert not (variant / "data" / "features" / "features.parquet").exists()

    update_params(
        variant,
        {
            "feature_budget": {
                "seconds_per_100k_rows": 1.0,
                "overrides": {"slow_pages": {"seconds_per_100k_rows": 100}},
            }
        },
    )
    done = mlpipe(variant, "stage", "featurize")
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.checklist("D4")
def test_a_feature_named_like_an_outcome_fails_at_load(variant):
    add_feature(variant, "spent", "return frame['minutes']")
    use_features(variant, "spent")
    done = mlpipe(variant, "stage", "featurize")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "['spent'] are the label, outcomes or identifiers" in done.stderr


@pytest.mark.checklist("D4")
@pytest.mark.parametrize("column", ["spent", "bought", "customer_id"])
def test_a_feature_reading_the_label_an_outcome_or_an_identifier_fails(variant, column):
    add_feature(variant, "peek", f"return frame[{column!r}].notna().astype(float)")
    use_features(variant, "peek")
    done = mlpipe(variant, "stage", "featurize")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"feature 'peek' reads '{column}'" in done.stderr
    assert "features never receive those columns" in done.stderr


@pytest.mark.checklist("D4")
def test_the_feature_table_holds_exactly_the_declared_columns(variant):
    done = mlpipe(variant, "stage", "featurize")
    assert done.returncode == 0, done.stderr[-2000:]
    done = mlpipe(variant, "stage", "validate", "features")
    assert done.returncode == 0, done.stderr[-2000:]
    path = variant / "data" / "features" / "features.parquet"
    table = pd.read_parquet(path)
    table["spent"] = 1.0
    table.drop(columns=["pages"]).to_parquet(path, index=False)
    done = mlpipe(variant, "stage", "validate", "features")
    assert done.returncode == 1
    assert '"extra": ["spent"]' in done.stderr and '"missing": ["pages"]' in done.stderr


@pytest.mark.checklist("D2")
def test_unhelpful_features_are_listed_or_fail_the_gate_by_policy(variant):
    add_feature(variant, "const_one", "return frame['pages'] * 0 + 1")
    add_feature(
        variant,
        "noise",
        "import numpy as np\nreturn pd.Series(np.random.default_rng(1).random(len(frame)),"
        " index=frame.index)",
    )
    use_features(variant, "const_one", "noise")
    git_commit(variant, "two useless features")
    done = run_pipeline_apart(variant)
    assert done.returncode == 0, done.stderr[-3000:]
    done = mlpipe(variant, "gate")  # the toy's policy: warn
    assert done.returncode == 0, done.stderr[-3000:]
    assert "warning: every feature helps" in done.stdout
    warned = json.loads((variant / "reports" / "gate" / "verdict.json").read_text())["warnings"]
    assert any("feature/const_one" in w for w in warned)
    assert any("feature/noise" in w for w in warned)

    config = variant / "configs" / "gate.yaml"
    config.write_text(config.read_text() + "features:\n  unhelpful: fail\n")
    done = mlpipe(variant, "gate")
    assert done.returncode == 1
    assert "every feature helps" in done.stderr
    assert "feature/const_one" in done.stderr and "feature/noise" in done.stderr
    report = (variant / "reports" / "gate" / "report.html").read_text()
    assert "<h2>features</h2>" in report and "feature/noise" in report

    accepted = {"const_one": "a placeholder", "noise": "a control", "store_size": "kept"}
    config.write_text(
        config.read_text()
        + "  accepted:\n"
        + "".join(f"    {name}: {reason}\n" for name, reason in accepted.items())
    )
    done = mlpipe(variant, "gate")
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.checklist("D4")
def test_an_undeclared_outcome_used_as_a_feature_trips_the_leak_alarm(variant):
    """The audit's mutation: the outcome taken off the domain's declared list and used as a
    feature passes load and featurize, but the model is too good to be true."""
    package = variant / "toydomain" / "__init__.py"
    package.write_text(package.read_text().replace('outcomes=("spent",),', "outcomes=(),"))
    prepare = variant / "toydomain" / "prepare.py"
    prepare.write_text(prepare.read_text().replace('.drop(columns=["spent"], errors="ignore")', ""))
    add_feature(variant, "spent_any", "return frame['spent'].notna().astype(float)")
    use_features(variant, "spent_any")
    git_commit(variant, "a leak")
    done = mlpipe(variant, "run")
    assert done.returncode == 1
    assert "leak alarm" in done.stderr and "looks like a leak" in done.stderr
    assert not Registry(ProjectPaths(variant), must_exist=False).versions()
    done = mlpipe(variant, "register")
    assert done.returncode == 1 and "looks like a leak" in done.stderr
    done = mlpipe(variant, "register", "--force", "--reason", "test: a known leak")
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.checklist("D6", "M1")
def test_a_new_feature_goes_from_one_function_to_a_registered_model(variant):
    """The documented way: one decorated function and one line under ``features:``; the
    pipeline, the diff against the champion, the gate and registration."""
    git_commit(variant, "ingested")
    done = run_pipeline_apart(variant, release=True)
    assert done.returncode == 0, done.stderr[-3000:]
    add_feature(variant, "pages_per_minute", "return frame['pages'] / (frame['minutes'] + 1)")
    use_features(variant, "pages_per_minute")
    git_commit(variant, "a new feature")
    done = run_pipeline_apart(variant)
    assert done.returncode == 0, done.stderr[-3000:]
    diff = mlpipe(variant, "diff")
    assert diff.returncode == 0, diff.stderr[-2000:]
    assert "added: pages_per_minute; removed: none" in diff.stdout
    assert "| features |" not in diff.stdout and "### Slice metrics (roc_auc)" in diff.stdout
    done = mlpipe(variant, "register")
    assert done.returncode == 0, done.stderr[-3000:]
    registry = Registry(ProjectPaths(variant))
    newest = registry.versions()[-1]
    assert newest.version == "2" and "pages_per_minute" in newest.features
    assert newest.passed_gate
