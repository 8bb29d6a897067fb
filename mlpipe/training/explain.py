"""One example through the whole computation (checklist I5): raw fields, enriched row,
features, the model's output, and what each feature contributed to it.

Contributions are **exact Shapley values of the model's probability against a reference
point** (the training window's medians and modes). The game is v(S) = f(x with the
features in S, the reference elsewhere); each feature's value is its average marginal
effect over all coalitions, so the contributions plus f(reference) add up to f(x), by
construction, whatever the model. Why this method:

- model-agnostic: it needs only ``predict_proba``, so it explains any model spec a domain
  builds (trees, linear models, pipelines with encoders), not one family;
- exact: with n <= 16 features all 2^n coalitions go through the model in ONE batched
  call (65,536 rows at most, well under a second for a tree ensemble); above that,
  permutation sampling (antithetic pairs, fixed seed, a stated number of permutations)
  keeps the sum property exactly and estimates each share;
- no extra dependency (SHAP's TreeExplainer would cover tree models only and adds a
  compiled package), and a single reference point makes every number reproducible by
  hand: set the other features to the reference, change this one, read the model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from math import factorial
from typing import Any

import numpy as np
import pandas as pd

from mlpipe.core.domain import Domain
from mlpipe.core.errors import DataError

Predict = Callable[[pd.DataFrame], np.ndarray]

MAX_EXACT_FEATURES = 16
PERMUTATIONS = 512
SEED = 0


@dataclass(frozen=True)
class Contributions:
    """Each feature's share of ``output - base``; ``base`` is f(reference)."""

    values: dict[str, float]
    base: float
    output: float
    method: str


@dataclass(frozen=True)
class Trace:
    """Every step of one prediction, as plain values."""

    key: str
    raw: dict[str, Any]
    enriched: dict[str, Any]
    features: dict[str, Any]  # recomputed from the record by today's code
    scored: dict[str, Any]  # what the model was given: the logged values, else recomputed
    scored_source: str  # "logged", "recomputed", or which features were recomputed
    reference: dict[str, Any]
    version: str
    threshold: float
    probability: float
    decision: int
    contributions: Contributions


def reference_point(train: pd.DataFrame, kinds: Mapping[str, str]) -> dict[str, Any]:
    """The training window's median of each numeric feature and mode of each categorical
    one: a typical example the contributions are measured from."""
    reference: dict[str, Any] = {}
    for name, kind in kinds.items():
        column = train[name].dropna()
        if column.empty:
            reference[name] = None if kind == "categorical" else np.nan
        elif kind == "numeric":
            reference[name] = float(column.median())
        else:
            reference[name] = column.astype(str).mode().sort_values().iloc[0]
    return reference


def _frame(
    bits: np.ndarray, x: Mapping[str, Any], reference: Mapping[str, Any], kinds: Mapping[str, str]
) -> pd.DataFrame:
    """One row per coalition: x's value where the bit is set, the reference's elsewhere."""
    columns = {}
    for j, (name, kind) in enumerate(kinds.items()):
        numeric = kind == "numeric"
        values = np.empty(len(bits), dtype=float if numeric else object)
        values[:] = np.nan if numeric and reference[name] is None else reference[name]
        values[bits[:, j]] = np.nan if numeric and x[name] is None else x[name]
        columns[name] = values
    return pd.DataFrame(columns)


def _exact(
    predict: Predict, x: Mapping[str, Any], reference: Mapping[str, Any], kinds: Mapping[str, str]
) -> tuple[np.ndarray, float, float]:
    """Every coalition in one predict call; phi_i = sum over S without i of
    |S|! (n-|S|-1)! / n! * (v(S + i) - v(S)). Returns (phi, f(reference), f(x))."""
    n = len(kinds)
    masks = np.arange(2**n)
    bits = ((masks[:, None] >> np.arange(n)) & 1).astype(bool)
    v = np.asarray(predict(_frame(bits, x, reference, kinds)), dtype=float)
    size = bits.sum(axis=1)
    weight = np.array([factorial(s) * factorial(n - s - 1) / factorial(n) for s in range(n)])
    phi = np.empty(n)
    for i in range(n):
        without = masks[~bits[:, i]]
        phi[i] = np.sum(weight[size[without]] * (v[without | (1 << i)] - v[without]))
    return phi, float(v[0]), float(v[-1])


def _sampled(
    predict: Predict,
    x: Mapping[str, Any],
    reference: Mapping[str, Any],
    kinds: Mapping[str, str],
    permutations: int,
    seed: int,
) -> tuple[np.ndarray, float, float]:
    """Each ordering adds x's features one by one to the reference, n + 1 rows per
    ordering, all orderings in one predict call; a feature's value is its mean gain.
    Each ordering's gains sum to f(x) - f(reference), so the estimate keeps that sum."""
    n = len(kinds)
    rng = np.random.default_rng(seed)
    half = [rng.permutation(n) for _ in range(max(1, permutations // 2))]
    orders = np.array([order for first in half for order in (first, first[::-1])])
    rank = np.argsort(orders, axis=1)  # rank[p, j]: where feature j comes in order p
    steps = np.arange(n + 1)
    bits = (rank[:, None, :] < steps[None, :, None]).reshape(-1, n)
    v = np.asarray(predict(_frame(bits, x, reference, kinds)), dtype=float)
    v = v.reshape(len(orders), n + 1)
    gains = np.diff(v, axis=1)  # gains[p, k]: what adding orders[p, k] changed
    phi = np.zeros(n)
    np.add.at(phi, orders.ravel(), gains.ravel())
    return phi / len(orders), float(v[0, 0]), float(v[0, -1])


def shapley(
    predict: Predict,
    x: Mapping[str, Any],
    reference: Mapping[str, Any],
    kinds: Mapping[str, str],
    max_exact: int = MAX_EXACT_FEATURES,
    permutations: int = PERMUTATIONS,
    seed: int = SEED,
) -> Contributions:
    """Shapley values of ``predict`` at ``x`` against ``reference`` (see the module
    docstring): exact up to ``max_exact`` features, else ``permutations`` sampled
    orderings (antithetic pairs) from ``seed``."""
    n = len(kinds)
    if n <= max_exact:
        phi, base, output = _exact(predict, x, reference, kinds)
        method = f"exact Shapley values: all 2^{n} = {2**n} coalitions"
    else:
        phi, base, output = _sampled(predict, x, reference, kinds, permutations, seed)
        used = 2 * max(1, permutations // 2)
        method = f"sampled Shapley values: {used} permutations (antithetic pairs), seed {seed}"
    values = {name: float(value) for name, value in zip(kinds, phi, strict=True)}
    return Contributions(values, base, output, method)


def _plain(value: Any) -> Any:
    """A cell as a plain Python value (NaN and NA as None)."""
    if value is None or (not isinstance(value, str | bytes) and pd.isna(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def _typed(value: Any, kind: str) -> Any:
    """A logged (JSON) feature value as the model's input type: float or string."""
    if value is None:
        return None
    return float(value) if kind == "numeric" else str(value)


def record_frame(domain: Domain, record: Mapping[str, Any]) -> pd.DataFrame:
    """One raw record as the one-row frame ``enrich`` expects (its serving fields)."""
    if not isinstance(record, Mapping):
        raise DataError("a record is a JSON object of the serving fields")
    missing = [name for name in domain.serving_fields if name not in record]
    if missing:
        raise DataError(
            f"the record lacks serving fields {missing} (a record carries "
            f"{list(domain.serving_fields)})"
        )
    return pd.DataFrame.from_records([dict(record)], columns=list(domain.serving_fields))


def trace(
    domain: Domain,
    context: Any,
    record: Mapping[str, Any],
    model: Any,
    features: list[str],
    threshold: float,
    reference: Mapping[str, Any],
    version: str,
    logged: Mapping[str, Any] | None = None,
) -> Trace:
    """Run ``record`` through enrich, the feature functions and ``model`` (the code
    training and serving run), and attribute its probability to its features. With
    ``logged`` (the features the prediction log recorded for it, in the clear), the model
    scores those, so the served answer is the one explained, and today's recomputation is
    shown beside it; features missing from ``logged`` are recomputed."""
    raw = record_frame(domain, record)
    enriched = domain.enrich(raw, context)
    if len(enriched) != 1:
        raise DataError(f"{domain.name}: enrich turned one record into {len(enriched)} rows")
    table, _ = domain.features.compute(enriched, features)
    kinds = domain.features.kinds(features)
    recomputed = {name: _plain(table[name].iloc[0]) for name in features}
    logged = logged or {}
    x = {
        name: _typed(logged[name], kinds[name]) if name in logged else recomputed[name]
        for name in features
    }
    missing = [name for name in features if name not in logged]
    source = "logged" if not missing else f"recomputed: {', '.join(missing)}"

    def predict(frame: pd.DataFrame) -> np.ndarray:
        return model.predict_proba(frame[features])[:, 1]

    contributions = shapley(predict, x, reference, kinds)
    probability = contributions.output
    return Trace(
        key=str(enriched[domain.key].iloc[0]),
        raw={name: _plain(value) for name, value in raw.iloc[0].items()},
        enriched={name: _plain(value) for name, value in enriched.iloc[0].items()},
        features=recomputed,
        scored=x,
        scored_source="recomputed" if len(missing) == len(features) else source,
        reference=dict(reference),
        version=str(version),
        threshold=float(threshold),
        probability=probability,
        decision=int(probability >= threshold),
        contributions=contributions,
    )
