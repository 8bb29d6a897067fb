"""The challenger review on synthetic prediction logs: promote, reject, wait, and the
automatic rollback of a canary that breaches its limits."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlpipe.release.review import review
from mlpipe.serving.service import CanaryLimits, PromotionCriteria

CRITERIA = PromotionCriteria(
    min_compared=100,
    min_agreement=0.8,
    max_error_rate=0.01,
    max_p99_latency_ms=50,
    min_labelled=50,
    max_quality_drop=0.01,
)
LIMITS = CanaryLimits(max_error_rate=0.05, max_p99_latency_ms=100)


def log(
    n: int = 300,
    challenger_noise: float = 0.0,
    errors: int = 0,
    latency: float = 5.0,
    mode: str = "shadow",
    labelled: int = 300,
) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    label = rng.integers(0, 2, n)
    champion = np.clip(0.3 + 0.4 * label + rng.normal(0, 0.15, n), 0, 1)
    challenger = (
        np.clip(champion + rng.normal(0, challenger_noise, n), 0, 1)
        if challenger_noise
        else champion.copy()
    )
    rows = []
    for i in range(n):
        known = label[i] if i < labelled else np.nan
        rows.append(
            {
                "request_id": f"r{i}",
                "key": f"k{i}",
                "role": "champion",
                "version": "1",
                "probability": champion[i],
                "decision": int(champion[i] >= 0.5),
                "latency_ms": 4.0,
                "error": None,
                "mode": mode,
                "label": known,
            }
        )
        failed = i < errors
        rows.append(
            {
                "request_id": f"r{i}",
                "key": f"k{i}",
                "role": "challenger",
                "version": "2",
                "probability": None if failed else challenger[i],
                "decision": None if failed else int(challenger[i] >= 0.5),
                "latency_ms": latency,
                "error": "boom" if failed else None,
                "mode": mode,
                "label": known,
            }
        )
    return pd.DataFrame(rows)


def test_an_equal_challenger_is_promoted():
    result = review(log(), "2", "1", CRITERIA, LIMITS)
    assert result.decision == "promote"
    assert result.stats["agreement"] == 1.0 and result.stats["requests_compared"] == 300


def test_a_worse_challenger_is_rejected_with_reasons():
    result = review(log(challenger_noise=0.5), "2", "1", CRITERIA, LIMITS)
    assert result.decision == "reject"
    assert any("ROC AUC" in reason for reason in result.reasons)
    assert any("agreement" in reason for reason in result.reasons)


def test_too_little_evidence_waits():
    result = review(log(n=60, labelled=10), "2", "1", CRITERIA, LIMITS)
    assert result.decision == "wait"


def test_a_canary_breaching_its_limits_is_rolled_back():
    assert review(log(mode="canary", errors=30), "2", "1", CRITERIA, LIMITS).decision == "rollback"
    assert (
        review(log(mode="canary", latency=400.0), "2", "1", CRITERIA, LIMITS).decision == "rollback"
    )
    assert review(log(mode="canary"), "2", "1", CRITERIA, LIMITS).decision == "promote"


def test_no_challenger_means_nothing_to_do():
    assert review(log(), None, "1", CRITERIA, LIMITS).decision == "wait"
