"""The quality gate on synthetic evaluation results, through real Great Expectations:
headline floors, baseline and champion, slices and gaps, unhelpful features (D2), the
leak alarm (D4), the reviewer's report; and the pull-request diff (M1)."""

from __future__ import annotations

import pytest

from mlpipe.core.configs import GateConfig
from mlpipe.core.errors import ConfigError
from mlpipe.core.settings import load_settings
from mlpipe.release.diff import Side, render
from mlpipe.release.gate import judge, metrics_table, report_html, review_rows, warnings
from tests.helpers import REPO, TOY

pytestmark = pytest.mark.checklist("I4", "M5", "M6", "M7")

CONFIG = GateConfig.model_validate(
    {
        "floors": {"roc_auc": 0.62, "log_loss": 0.55},
        "baseline": {"metric": "roc_auc", "min_margin": 0.02},
        "champion": {"metric": "roc_auc", "tolerance": 0.01},
        "slices": {"metric": "roc_auc", "floor": 0.55},
        "inclusion": {"groups": ["region"], "metric": "roc_auc", "max_gap": 0.12},
    }
)
HELPFUL = {
    "minutes": {"mean": 0.05, "std": 0.01},
    "pages": {"mean": 0.03, "std": 0.005},
    "region": {"mean": 0.02, "std": 0.004},
}
UNHELPFUL = {
    **HELPFUL,
    "const_one": {"mean": 0.0, "std": 0.0},
    "noise": {"mean": 0.002, "std": 0.003},
}


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
        {"slice": "region", "value": name, "n": 400, "gated": True, "roc_auc": auc}
        for name, auc in aucs.items()
    ]
    rows.append({"slice": "week", "value": 14, "n": 20, "gated": False, "roc_auc": 0.3})
    return rows


def verdict(
    candidate,
    baseline=None,
    champion=None,
    candidate_slices=None,
    importance=None,
    config=CONFIG,
):
    table = metrics_table(
        config,
        candidate,
        baseline or overall(0.60),
        champion,
        candidate_slices or slices(north=0.70, south=0.64, east=0.69),
        importance=HELPFUL if importance is None else importance,
    )
    return judge(config, table, has_champion=champion is not None)


def failed_checks(report) -> set[str]:
    return {check.name for check in report.failures}


def with_rules(**sections) -> GateConfig:
    return CONFIG.model_copy(
        update={
            name: getattr(CONFIG, name).model_copy(update=values)
            for name, values in sections.items()
        }
    )


def test_a_normal_model_passes_without_a_champion():
    report = verdict(overall(0.67))
    assert report.success, report.summary()
    assert not any("champion" in check.name for check in report.checks)


def test_a_model_no_better_than_chance_fails_floor_and_baseline():
    report = verdict(overall(0.50, log_loss=0.69), candidate_slices=slices(north=0.5, south=0.5))
    assert {
        "roc_auc floor",
        "log_loss floor",
        "beats the baseline on roc_auc by 0.02",
        "every slice's roc_auc at least 0.55",
    } <= failed_checks(report)


def test_a_collapsed_slice_is_named():
    report = verdict(overall(0.67), candidate_slices=slices(north=0.71, south=0.41, east=0.69))
    failures = {check.name: check for check in report.failures}
    assert set(failures) == {
        "every slice's roc_auc at least 0.55",
        "roc_auc gap between groups at most 0.12",
    }
    observed = failures["every slice's roc_auc at least 0.55"].observed
    assert observed == [{"candidate": 0.41, "row_id": "slice/region=south/roc_auc"}]


def test_small_slices_are_reported_but_not_gated():
    table = metrics_table(
        CONFIG, overall(0.67), overall(0.60), None, slices(north=0.7, south=0.66), None, HELPFUL
    )
    assert "slice/week=14/roc_auc" in set(table["row_id"])
    assert judge(CONFIG, table, has_champion=False).success


def test_worse_than_the_champion_fails_and_within_tolerance_passes():
    worse = verdict(overall(0.65), champion=overall(0.67))
    assert failed_checks(worse) == {"not worse than the champion on roc_auc by more than 0.01"}
    close = verdict(overall(0.665), champion=overall(0.67))
    assert close.success, close.summary()


def test_lower_is_better_metrics_are_compared_the_right_way():
    config = with_rules(baseline={"metric": "log_loss", "min_margin": 0.01})
    better = verdict(
        overall(0.67, log_loss=0.44), baseline=overall(0.6, log_loss=0.47), config=config
    )
    assert better.success, better.summary()
    worse = verdict(
        overall(0.67, log_loss=0.47), baseline=overall(0.6, log_loss=0.465), config=config
    )
    assert not worse.success


def test_nonfinite_predictions_fail():
    report = verdict(overall(0.67, nonfinite=3))
    assert failed_checks(report) == {"no NaN or inf predictions"}


def test_undefined_candidate_metric_fails():
    report = verdict({**overall(0.67), "roc_auc": None})
    assert "candidate metrics are defined" in failed_checks(report)


@pytest.mark.checklist("D2")
def test_unhelpful_features_warn_by_default_and_are_listed():
    """A constant and a pure-noise feature: importance not above zero by more than its
    spread. Under ``warn`` the gate passes and the verdict lists both."""
    table = metrics_table(
        CONFIG, overall(0.67), overall(0.6), None, slices(north=0.7), None, UNHELPFUL
    )
    assert judge(CONFIG, table, has_champion=False).success
    listed = warnings(review_rows(CONFIG, table, has_champion=False))
    assert len(listed) == 2
    assert any("feature/const_one" in w for w in listed)
    assert any("feature/noise" in w and "0.0020 ± std 0.0030" in w for w in listed)


@pytest.mark.checklist("D2")
def test_unhelpful_features_fail_the_gate_unless_accepted_with_a_reason():
    config = with_rules(features={"unhelpful": "fail"})
    report = verdict(overall(0.67), importance=UNHELPFUL, config=config)
    [failure] = report.failures
    assert failure.name.startswith("every feature helps")
    assert {row["row_id"] for row in failure.observed} == {"feature/const_one", "feature/noise"}
    accepted = with_rules(
        features={"unhelpful": "fail", "accepted": {"noise": "kept for a planned interaction"}}
    )
    report = verdict(overall(0.67), importance=UNHELPFUL, config=accepted)
    assert [row["row_id"] for row in report.failures[0].observed] == ["feature/const_one"]
    rows = review_rows(
        accepted,
        metrics_table(accepted, overall(0.67), overall(0.6), None, slices(), None, UNHELPFUL),
        has_champion=False,
    )
    noise = next(r for r in rows if r["row"] == "feature/noise")
    assert noise["status"] == "not gated" and "kept for a planned interaction" in noise["detail"]
    assert verdict(overall(0.67), importance=HELPFUL, config=config).success


@pytest.mark.checklist("D4")
def test_too_good_to_be_true_trips_the_leak_alarm():
    """A jump over the baseline or the champion beyond the bound, or one feature carrying
    most of the importance, looks like a leak."""
    over_baseline = verdict(overall(0.88), baseline=overall(0.62))
    assert failed_checks(over_baseline) == {
        "leak alarm: roc_auc lead over the baseline at most 0.15"
    }
    over_champion = verdict(overall(0.80), baseline=overall(0.70), champion=overall(0.67))
    assert failed_checks(over_champion) == {
        "leak alarm: roc_auc lead over the champion at most 0.1"
    }
    one_feature = verdict(
        overall(0.67),
        importance={**HELPFUL, "spent_any": {"mean": 0.9, "std": 0.01}},
    )
    [failure] = one_feature.failures
    assert failure.name == "leak alarm: one feature's share of the importance at most 0.8"
    off = with_rules(leak={"max_lead_over_baseline": None})
    assert verdict(overall(0.88), baseline=overall(0.62), config=off).success


def test_a_single_feature_model_is_no_leak_by_importance():
    report = verdict(overall(0.67), importance={"minutes": {"mean": 0.1, "std": 0.01}})
    assert report.success, report.summary()


def test_the_report_shows_values_thresholds_baseline_and_champion_per_scope():
    config = with_rules(features={"unhelpful": "warn"})
    table = metrics_table(
        config,
        overall(0.65),
        overall(0.60),
        overall(0.67),
        slices(north=0.71, south=0.41, east=0.69),
        slices(north=0.70, south=0.66, east=0.69),
        UNHELPFUL,
    )
    report = judge(config, table, has_champion=True)
    rows = review_rows(config, table, has_champion=True)
    by_check = {(r["check"], r["row"]): r for r in rows}
    champion = by_check[
        ("not worse than the champion on roc_auc by more than 0.01", "overall/roc_auc")
    ]
    assert champion["value"] == pytest.approx(-0.02) and champion["threshold"] == "≥ -0.01"
    assert champion["baseline"] == 0.60 and champion["champion"] == 0.67
    assert champion["status"] == "fail"
    south = by_check[("every slice's roc_auc at least 0.55", "slice/region=south/roc_auc")]
    assert (south["value"], south["champion"], south["status"]) == (0.41, 0.66, "fail")
    assert (
        by_check[("every slice's roc_auc at least 0.55", "slice/week=14/roc_auc")]["status"]
        == "not gated"
    )
    statuses = {r["row"]: r["status"] for r in rows if r["scope"] == "features"}
    assert statuses == {
        "feature/const_one": "warn",
        "feature/minutes": "pass",
        "feature/noise": "warn",
        "feature/pages": "pass",
        "feature/region": "pass",
    }
    html = report_html(rows, report.success, "champion v1 re-scored on the same test rows")
    for scope in ("overall", "slice", "gap", "features", "leak"):
        assert f"<h2>{scope}</h2>" in html
    assert "FAILED" in html and "≥ 0.55" in html and "0.41" in html
    assert "element_count" not in html and "unexpected_count" not in html
    # every failed GX check has at least one failed row in the report
    failed_rows = {r["check"] for r in rows if r["status"] == "fail"}
    assert failed_checks(report) <= failed_rows


def test_shipped_gate_configs_are_valid_and_bad_config_is_named(tmp_path):
    for path in (REPO / "configs" / "gate.yaml", TOY / "project" / "configs" / "gate.yaml"):
        config = load_settings(GateConfig, path)
        assert config.floors["roc_auc"] > 0.5
    shipped = load_settings(GateConfig, REPO / "configs" / "gate.yaml")
    assert shipped.features.unhelpful == "fail" and not shipped.release.allow_dirty
    assert all(reason.strip() for reason in shipped.features.accepted.values())
    (tmp_path / "gate.yaml").write_text(
        (REPO / "configs" / "gate.yaml").read_text().replace("roc_auc: 0.62", "roc_auk: 0.62")
    )
    with pytest.raises(ConfigError, match="roc_auk"):
        load_settings(GateConfig, tmp_path / "gate.yaml")
    (tmp_path / "gate.yaml").write_text(
        (REPO / "configs" / "gate.yaml").read_text().replace("unhelpful: fail", "unhelpful: ok")
    )
    with pytest.raises(ConfigError, match=r"features\.unhelpful"):
        load_settings(GateConfig, tmp_path / "gate.yaml")


@pytest.mark.checklist("M1")
def test_the_diff_shows_params_features_metrics_slices_and_the_verdict():
    champion = Side(
        params={"model": {"learning_rate": 0.1, "max_iter": 30}, "features": ["minutes"]},
        features=["minutes", "pages", "store_size"],
        metrics={"roc_auc": 0.67, "log_loss": 0.65},
        slices=[{"slice": "region", "value": "north", "n": 200, "roc_auc": 0.60}],
        commit="abc",
    )
    new = Side(
        params={"model": {"learning_rate": 0.2, "max_iter": 30}, "features": ["x"]},
        features=["minutes", "pages", "weekend"],
        metrics={"roc_auc": 0.69, "log_loss": 0.66},
        slices=[
            {"slice": "region", "value": "north", "n": 210, "roc_auc": 0.58},
            {"slice": "region", "value": "south", "n": 190, "roc_auc": 0.7},
        ],
        commit="def",
    )
    verdict_record = {
        "passed": False,
        "model_sha256": "m1",
        "note": "champion v3 re-scored",
        "checks": [{"check": "roc_auc floor", "passed": False}, {"check": "x", "passed": True}],
        "warnings": ["every feature helps: feature/weekend (mean 0 ± std 0)"],
    }
    text = render(new, champion, "3", verdict_record, "m1", "roc_auc")
    assert text.startswith("## Model change vs champion v3")
    assert "| model.learning_rate | 0.1000 | 0.2000 |" in text
    assert "max_iter" not in text  # unchanged params are not listed
    assert "added: weekend; removed: store_size" in text
    assert "| roc_auc | 0.6700 | 0.6900 | +0.0200 better |" in text
    assert "| log_loss | 0.6500 | 0.6600 | +0.0100 worse |" in text
    assert "| region=north | 210 | 0.6000 | 0.5800 | -0.0200 worse |" in text
    assert "| region=south | 190 | – | 0.7000 | – |" in text
    assert "**Gate:** FAILED" in text and "- failed: roc_auc floor" in text
    assert "- warning: every feature helps" in text
    stale = render(new, None, None, verdict_record, "another model", "roc_auc")
    assert "no champion yet" in stale and "judged another model" in stale
