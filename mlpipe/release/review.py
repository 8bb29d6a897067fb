"""Should the challenger take over? Judged on the prediction log, on the same requests
both models scored (shadow) or on the canary traffic, with the criteria and limits of
configs/serving.yaml. Pure functions: the log in, a decision out."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlpipe.core.metrics import auc
from mlpipe.core.registry import CHALLENGER, CHAMPION


@dataclass
class Review:
    decision: str  # promote | reject | rollback | wait
    reasons: list[str]
    challenger_version: str | None
    champion_version: str | None
    stats: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def markdown(self) -> str:
        lines = [
            f"# Challenger review: {self.decision}",
            "",
            f"champion v{self.champion_version}, challenger v{self.challenger_version}",
            "",
        ]
        lines += [f"- {reason}" for reason in self.reasons]
        lines += ["", "| statistic | value |", "|---|---|"]
        lines += [f"| {key} | {value} |" for key, value in self.stats.items()]
        return "\n".join(lines) + "\n"


def paired(log: pd.DataFrame, challenger_version: str) -> pd.DataFrame:
    """Champion and challenger answers to the same request and key, side by side."""
    champion = log.loc[
        log["role"] == CHAMPION,
        ["request_id", "key", "version", "probability", "decision", "latency_ms", "label"],
    ]
    challenger = log.loc[
        (log["role"] == CHALLENGER) & (log["version"] == challenger_version),
        ["request_id", "key", "probability", "decision", "latency_ms", "error", "mode"],
    ]
    return champion.merge(challenger, on=["request_id", "key"], suffixes=("", "_challenger"))


def review(
    log: pd.DataFrame,
    challenger_version: str | None,
    champion_version: str | None,
    criteria: Any,
    limits: Any,
) -> Review:
    if challenger_version is None:
        return Review("wait", ["no challenger to review"], None, champion_version)
    pairs = paired(log, challenger_version)
    mine = log.loc[(log["role"] == CHALLENGER) & (log["version"] == challenger_version)]
    errors = int(mine["error"].notna().sum())
    error_rate = errors / len(mine) if len(mine) else 0.0
    scored = pairs.loc[pairs["probability_challenger"].notna()]
    latency_p99 = float(np.percentile(mine["latency_ms"].dropna(), 99)) if len(mine) else 0.0
    labelled = scored.loc[scored["label"].notna()]
    champion_auc = auc(labelled["label"], labelled["probability"]) if len(labelled) else math.nan
    challenger_auc = (
        auc(labelled["label"], labelled["probability_challenger"]) if len(labelled) else math.nan
    )
    stats = {
        "requests_compared": len(scored),
        "agreement": round(float((scored["decision"] == scored["decision_challenger"]).mean()), 4)
        if len(scored)
        else None,
        "challenger_errors": errors,
        "challenger_error_rate": round(error_rate, 4),
        "challenger_p99_latency_ms": round(latency_p99, 3),
        "labelled": len(labelled),
        "champion_roc_auc": None if math.isnan(champion_auc) else round(champion_auc, 4),
        "challenger_roc_auc": None if math.isnan(challenger_auc) else round(challenger_auc, 4),
        "canary_requests": int((mine["mode"] == "canary").sum()),
    }
    if stats["canary_requests"] and (
        error_rate > limits.max_error_rate or latency_p99 > limits.max_p99_latency_ms
    ):
        return Review(
            "rollback",
            [
                f"canary breach: error rate {error_rate:.3f} (limit {limits.max_error_rate}), "
                f"p99 {latency_p99:.1f} ms (limit {limits.max_p99_latency_ms})"
            ],
            challenger_version,
            champion_version,
            stats,
        )
    if len(scored) < criteria.min_compared or len(labelled) < criteria.min_labelled:
        return Review(
            "wait",
            [
                f"not enough evidence yet: {len(scored)} compared requests "
                f"(need {criteria.min_compared}), {len(labelled)} labelled "
                f"(need {criteria.min_labelled})"
            ],
            challenger_version,
            champion_version,
            stats,
        )
    reasons = []
    if stats["agreement"] < criteria.min_agreement:
        reasons.append(f"agreement {stats['agreement']} < {criteria.min_agreement}")
    if error_rate > criteria.max_error_rate:
        reasons.append(f"error rate {error_rate:.4f} > {criteria.max_error_rate}")
    if latency_p99 > criteria.max_p99_latency_ms:
        reasons.append(f"p99 latency {latency_p99:.1f} ms > {criteria.max_p99_latency_ms}")
    if not (challenger_auc >= champion_auc - criteria.max_quality_drop):
        reasons.append(
            f"ROC AUC on labelled requests {challenger_auc:.4f} trails the "
            f"champion's {champion_auc:.4f} by more than {criteria.max_quality_drop}"
        )
    if reasons:
        return Review("reject", reasons, challenger_version, champion_version, stats)
    return Review("promote", ["every criterion holds"], challenger_version, champion_version, stats)
