"""The challenger review on synthetic prediction logs: promote, reject, wait, and the
automatic rollback of a canary that breaches its limits; and the evidence a promotion
needs (the review's decision, for that challenger, recent). `mlpipe promote` itself is
tested against a real registry in tests/test_serving.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from mlpipe.core.configs import CanaryLimits, PromotionCriteria
from mlpipe.core.registry import RegistryError, VersionInfo
from mlpipe.release.aliases import Evidence, check_evidence
from mlpipe.release.review import review

pytestmark = pytest.mark.checklist("I6")

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


NOW = datetime(2026, 1, 10, 12, tzinfo=UTC)


def version(number: str) -> VersionInfo:
    return VersionInfo(version=number, tags={}, created_ms=0, description="", run_id=None)


def evidence(hours_ago: float = 1, **changes) -> Evidence:
    made = (NOW - timedelta(hours=hours_ago)).isoformat()
    decision = review(log(), "2", "1", CRITERIA, LIMITS).to_dict()
    return Evidence({**decision, "reviewed_at": made, **changes}, max_age_hours=24)


def test_a_recent_promote_review_of_that_challenger_is_evidence():
    check_evidence(evidence(), version("2"), version("1"), NOW)


@pytest.mark.parametrize(
    ("given", "target", "champion", "words"),
    [
        (Evidence(None, 24), "2", "1", "no promotion review"),
        (evidence(decision="reject"), "2", "1", "decision is 'reject'"),
        (evidence(), "3", "1", "judged v2, not v3"),
        (evidence(), "2", "4", "champion is v4 now"),
        (evidence(hours_ago=25), "2", "1", "25.0 h old (at most 24 h)"),
        (evidence(reviewed_at=None), "2", "1", "does not say when"),
    ],
)
def test_a_promotion_without_fitting_evidence_is_refused(given, target, champion, words):
    with pytest.raises(RegistryError, match="--force --reason") as refused:
        check_evidence(given, version(target), version(champion), NOW)
    assert words in str(refused.value)
