"""The quality gate on synthetic evaluation results, through real Great Expectations."""

from __future__ import annotations

import pytest

from mlpipe.core.errors import ConfigError
from mlpipe.release.gate import GateConfig, judge, load_gate_config, metrics_table
from tests.helpers import REPO

CONFIG = GateConfig.model_validate(
    {
        "floors": {"roc_auc": 0.62, "log_loss": 0.55},
        "baseline": {"metric": "roc_auc", "min_margin": 0.02},
        "champion": {"metric": "roc_auc", "tolerance": 0.01},
        "slices": {"metric": "roc_auc", "floor": 0.55},
        "inclusion": {"groups": ["origin"], "metric": "roc_auc", "max_gap": 0.12},
    }
)


def overall(roc_auc: float, log_loss: float = 0.45, nonfinite: int = 0) -> dict:
    return {
        "n": 1000,
        "roc_auc": roc_auc,
        "log_loss": log_loss,
        "pr_auc": 0.3,
        "brier": 0.14,
        "nonfinite_predictions": nonfinite,
    }


def slices(**aucs: float) -> list[dict]:
    rows = [
        {"slice": "origin", "value": name, "n": 400, "gated": True, "roc_auc": auc}
        for name, auc in aucs.items()
    ]
    rows.append({"slice": "carrier", "value": "HA", "n": 20, "gated": False, "roc_auc": 0.3})
    return rows


def verdict(candidate, baseline=None, champion=None, candidate_slices=None):
    table = metrics_table(
        CONFIG,
        candidate,
        baseline or overall(0.60),
        champion,
        candidate_slices or slices(EWR=0.70, JFK=0.64, LGA=0.69),
    )
    return judge(CONFIG, table, has_champion=champion is not None)


def failed_checks(report) -> set[str]:
    return {check.name for check in report.failures}


def test_a_normal_model_passes_without_a_champion():
    report = verdict(overall(0.67))
    assert report.success, report.summary()
    assert not any("champion" in check.name for check in report.checks)


def test_a_model_no_better_than_chance_fails_floor_and_baseline():
    report = verdict(overall(0.50, log_loss=0.69), candidate_slices=slices(EWR=0.5, JFK=0.5))
    assert {
        "roc_auc floor",
        "log_loss floor",
        "beats the baseline on roc_auc by 0.02",
        "every slice's roc_auc at least 0.55",
    } <= failed_checks(report)


def test_a_collapsed_slice_is_named():
    report = verdict(overall(0.67), candidate_slices=slices(EWR=0.71, JFK=0.41, LGA=0.69))
    failures = {check.name: check for check in report.failures}
    assert set(failures) == {
        "every slice's roc_auc at least 0.55",
        "roc_auc gap between groups at most 0.12",
    }
    observed = failures["every slice's roc_auc at least 0.55"].observed
    assert observed == [{"candidate": 0.41, "row_id": "slice/origin=JFK/roc_auc"}]


def test_small_slices_are_reported_but_not_gated():
    table = metrics_table(CONFIG, overall(0.67), overall(0.60), None, slices(EWR=0.7, JFK=0.66))
    assert "slice/carrier=HA/roc_auc" in set(table["row_id"])
    assert judge(CONFIG, table, has_champion=False).success


def test_worse_than_the_champion_fails_and_within_tolerance_passes():
    worse = verdict(overall(0.65), champion=overall(0.67))
    assert failed_checks(worse) == {"not worse than the champion on roc_auc by more than 0.01"}
    close = verdict(overall(0.665), champion=overall(0.67))
    assert close.success, close.summary()


def test_lower_is_better_metrics_are_compared_the_right_way():
    config = CONFIG.model_copy(
        update={
            "baseline": CONFIG.baseline.model_copy(
                update={"metric": "log_loss", "min_margin": 0.01}
            )
        }
    )
    table = metrics_table(
        config,
        overall(0.67, log_loss=0.44),
        overall(0.6, log_loss=0.47),
        None,
        slices(EWR=0.7, JFK=0.66),
    )
    assert judge(config, table, has_champion=False).success
    table = metrics_table(
        config,
        overall(0.67, log_loss=0.47),
        overall(0.6, log_loss=0.465),
        None,
        slices(EWR=0.7, JFK=0.66),
    )
    assert not judge(config, table, has_champion=False).success


def test_nonfinite_predictions_fail():
    report = verdict(overall(0.67, nonfinite=3))
    assert failed_checks(report) == {"no NaN or inf predictions"}


def test_undefined_candidate_metric_fails():
    report = verdict({**overall(0.67), "roc_auc": None})
    assert "candidate metrics are defined" in failed_checks(report)


def test_shipped_gate_config_is_valid_and_bad_config_is_named(tmp_path):
    config = load_gate_config(REPO / "configs" / "gate.yaml")
    assert config.floors["roc_auc"] > 0.5
    (tmp_path / "gate.yaml").write_text(
        (REPO / "configs" / "gate.yaml").read_text().replace("roc_auc: 0.62", "roc_auk: 0.62")
    )
    with pytest.raises(ConfigError, match="roc_auk"):
        load_gate_config(tmp_path / "gate.yaml")
