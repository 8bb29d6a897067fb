"""The files of configs/ as typed models: one schema per file, validated when a project
loads (mlpipe.core.project), so a bad threshold or a column that does not exist fails
before any work, with its key named. Thresholds live in the YAML files, never in code."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from mlpipe.core.settings import StrictModel

# the metrics every summary, report and model card shows
HEADLINE = ("roc_auc", "pr_auc", "log_loss", "brier", "accuracy", "f1")

# direction of each metric the gate and monitoring may name
HIGHER_IS_BETTER = {
    "roc_auc": True,
    "pr_auc": True,
    "accuracy": True,
    "f1": True,
    "precision": True,
    "recall": True,
    "log_loss": False,
    "brier": False,
}


class _Metric(StrictModel):
    metric: str = "roc_auc"

    @model_validator(mode="after")
    def _known_metric(self) -> _Metric:
        if self.metric not in HIGHER_IS_BETTER:
            raise ValueError(f"unknown metric {self.metric!r}; known: {sorted(HIGHER_IS_BETTER)}")
        return self


# --- configs/gate.yaml ----------------------------------------------------------------


class BaselineRule(_Metric):
    min_margin: float = 0.0


class ChampionRule(_Metric):
    tolerance: float = Field(0.0, ge=0)


class SliceRule(_Metric):
    floor: float


class InclusionRule(_Metric):
    groups: list[str] = Field(default_factory=list)
    max_gap: float = Field(gt=0)


class FeatureRules(StrictModel):
    """Features that do not help (permutation importance not above zero by more than its
    spread across repeats, checklist D2): ``fail`` the gate or ``warn`` and list them."""

    unhelpful: Literal["fail", "warn"] = "warn"
    accepted: dict[str, str] = Field(
        default_factory=dict, description="feature -> why it stays although it does not help"
    )


class LeakRules(_Metric):
    """A candidate too good to be true looks like a leak (checklist D4): it needs
    ``--force --reason``. None switches a bound off."""

    max_lead_over_baseline: float | None = Field(0.15, gt=0)
    max_lead_over_champion: float | None = Field(0.10, gt=0)
    max_importance_share: float | None = Field(0.8, gt=0, le=1)


class ReleaseRules(StrictModel):
    """What registration requires beyond the gate (checklist M1)."""

    allow_dirty: bool = Field(False, description="register models trained from a dirty tree")


class GateConfig(StrictModel):
    floors: dict[str, float] = Field(default_factory=dict)
    baseline: BaselineRule
    champion: ChampionRule
    slices: SliceRule
    inclusion: InclusionRule
    max_nonfinite_predictions: int = Field(0, ge=0)
    features: FeatureRules = FeatureRules()
    leak: LeakRules = LeakRules()
    release: ReleaseRules = ReleaseRules()

    @model_validator(mode="after")
    def _known_floors(self) -> GateConfig:
        unknown = sorted(set(self.floors) - set(HIGHER_IS_BETTER))
        if unknown:
            raise ValueError(
                f"floors: unknown metrics {unknown}; known: {sorted(HIGHER_IS_BETTER)}"
            )
        return self

    def metrics(self) -> set[str]:
        return {
            *self.floors,
            self.baseline.metric,
            self.champion.metric,
            self.slices.metric,
            self.inclusion.metric,
            self.leak.metric,
        }


# --- configs/monitoring.yaml ----------------------------------------------------------


class DriftRules(StrictModel):
    """Each column's threshold is the larger of its configured floor and ``noise_margin``
    times its noise floor (mlpipe.monitoring.drift explains the calibration)."""

    feature_threshold: float = Field(0.1, gt=0)
    max_drifted_share: float = Field(0.3, ge=0, le=1)
    prediction_threshold: float = Field(0.1, gt=0)
    noise_draws: int = Field(100, ge=10)
    noise_quantile: float = Field(0.99, gt=0, lt=1)
    noise_margin: float = Field(1.2, ge=1)


class InvariantRules(StrictModel):
    max_failed_expectations: int = 0


class SkewRules(StrictModel):
    max_mismatch_rate: float = 0.0
    tolerance: float = 1e-9


class QualityRules(StrictModel):
    min_labelled: int = 100
    max_drop_vs_offline: float = 0.05
    slices: list[str] = Field(default_factory=list)
    min_slice_size: int = 100
    slice_floor: float = 0.5


class StabilityRules(StrictModel):
    max_nonfinite_predictions: int = 0
    max_infinite_features: int = 0


class PerformanceRules(StrictModel):
    max_p99_latency_ms: float = 250
    max_regression: float = 1.5
    max_training_regression: float = Field(2.0, gt=1)
    min_training_runs: int = Field(1, ge=1)
    training_runs: int = Field(10, ge=1)


class DependencyRules(StrictModel):
    alert_on_change: bool = True


class AlertRules(StrictModel):
    file: str = "reports/monitoring/alerts.jsonl"
    webhook_url: str | None = None
    fail_flow: bool = True
    retrain: bool = False


class MonitorConfig(StrictModel):
    window_hours: float | None = None
    reference_rows: int = 20000
    drift: DriftRules = DriftRules()
    invariants: InvariantRules = InvariantRules()
    skew: SkewRules = SkewRules()
    quality: QualityRules = QualityRules()
    stability: StabilityRules = StabilityRules()
    performance: PerformanceRules = PerformanceRules()
    dependencies: DependencyRules = DependencyRules()
    alerts: AlertRules = AlertRules()


# --- configs/serving.yaml -------------------------------------------------------------


class PromotionCriteria(StrictModel):
    min_compared: int = 200
    min_agreement: float = 0.8
    max_error_rate: float = 0.01
    max_p99_latency_ms: float = 100
    min_labelled: int = 100
    max_quality_drop: float = 0.01
    # `mlpipe promote` accepts a review's "promote" only this long after it was made
    evidence_max_age_hours: float = Field(24, gt=0)


class CanaryLimits(StrictModel):
    max_error_rate: float = 0.05
    max_p99_latency_ms: float = 250


class ServingSettings(StrictModel):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    mode: str = Field("shadow", pattern="^(off|shadow|canary)$")
    canary_fraction: float = Field(0.1, ge=0, le=1)
    reload_seconds: float = Field(5, gt=0)
    challenger_timeout_seconds: float = Field(1.0, gt=0)
    max_records: int = Field(1000, ge=1)
    max_body_bytes: int = Field(2_000_000, ge=1000)
    api_key_env: str = "MLPIPE_API_KEY"
    # GET /metrics without the API key (for a scraper); /metadata always needs it when set
    metrics_open: bool = False
    # on stop, how long queued shadow scorings may still run before the rest is dropped
    shutdown_seconds: float = Field(3.0, ge=0, le=60)
    log_path: str = "data/serving/predictions.db"
    # `mlpipe purge` deletes prediction-log rows older than this (None: kept forever)
    retention_days: float | None = Field(None, gt=0)
    # the key of the pseudonyms in the prediction log (unset: .mlpipe/pseudonym.key)
    pseudonym_key_env: str = "MLPIPE_PSEUDONYM_KEY"
    promotion: PromotionCriteria = PromotionCriteria()
    canary_limits: CanaryLimits = CanaryLimits()


# --- configs/tracking.yaml and configs/registry.yaml ----------------------------------


class TrackingConfig(StrictModel):
    tracking_uri: str = "sqlite:///mlflow.db"
    artifact_location: str = "mlartifacts"
    experiment: str = "default"


class RegistryConfig(StrictModel):
    """The registered model, and the registry lock on a tracking server (a lease kept in
    the registry itself; a SQLite store is locked by a file beside it): how long a writer
    may hold it before others take over (at once when it died on the same machine), and
    how long a writer waits for it."""

    model_name: str = "model"
    lease_seconds: float = Field(120, gt=0)
    wait_seconds: float = Field(300, gt=0)


# --- configs/score.yaml ---------------------------------------------------------------


class ScoreConfig(StrictModel):
    """`mlpipe score` (the ML Test Score): the floor CI holds the final score to, and how
    old automated evidence may be before it no longer counts."""

    floor: float = Field(7.0, ge=0, le=7)
    max_age_days: float = Field(30, gt=0)
    junit: str = "reports/tests/junit.xml"
