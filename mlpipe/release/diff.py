"""What a change does to the model (checklist M1), as Markdown for a pull-request comment:
the working tree's last run against the champion: params, features, headline and slice
metrics with deltas, and the gate's verdict. Pure: dicts in, text out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlpipe.core.configs import HEADLINE, HIGHER_IS_BETTER
from mlpipe.core.tracking import flatten


@dataclass(frozen=True)
class Side:
    """One model's record: params (params.yaml as dumped), features, metrics, slices."""

    params: dict[str, Any]
    features: list[str]
    metrics: dict[str, Any]
    slices: list[dict[str, Any]] = field(default_factory=list)
    commit: str | None = None


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value).replace("|", "\\|")


def _delta(metric: str, new: Any, old: Any) -> str:
    """Signed change, marked better or worse by the metric's direction."""
    if not isinstance(new, int | float) or not isinstance(old, int | float):
        return "–"
    change = float(new) - float(old)
    if abs(change) < 5e-5:
        return "±0"
    better = (change > 0) == HIGHER_IS_BETTER.get(metric, True)
    return f"{change:+.4f} {'better' if better else 'worse'}"


def _table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return lines


def params_changes(new: dict[str, Any], old: dict[str, Any]) -> list[list[Any]]:
    """(param, champion, this change) for every dotted key whose value differs."""
    flat_new, flat_old = flatten("", new), flatten("", old)
    return [
        [key, flat_old.get(key), flat_new.get(key)]
        for key in sorted(set(flat_new) | set(flat_old))
        if key != "features" and flat_new.get(key) != flat_old.get(key)
    ]


def gate_lines(verdict: dict[str, Any] | None, model_sha256: str | None) -> list[str]:
    if verdict is None:
        return ["**Gate:** not run yet (`mlpipe gate`)."]
    if model_sha256 and verdict.get("model_sha256") != model_sha256:
        return ["**Gate:** the verdict on record judged another model: run `mlpipe gate`."]
    failed = [c["check"] for c in verdict.get("checks", []) if not c.get("passed")]
    lines = [
        f"**Gate:** {'passed' if verdict.get('passed') else 'FAILED'} "
        f"({len(verdict.get('checks', []))} checks; {verdict.get('note', '')})"
    ]
    lines += [f"- failed: {name}" for name in failed]
    lines += [f"- warning: {text}" for text in verdict.get("warnings", [])]
    return lines


def render(
    new: Side,
    champion: Side | None,
    champion_version: str | None,
    verdict: dict[str, Any] | None,
    model_sha256: str | None,
    slice_metric: str,
) -> str:
    """The Markdown comment."""
    title = f"champion v{champion_version}" if champion is not None else "no champion yet"
    old = champion or Side(params={}, features=[], metrics={})
    lines = [f"## Model change vs {title}", ""]
    if new.commit or old.commit:
        lines += [f"Code: `{new.commit or '?'}` (champion: `{old.commit or '–'}`)", ""]
    lines += [*gate_lines(verdict, model_sha256), "", "### Params", ""]
    changes = params_changes(new.params, old.params)
    lines += _table(["param", "champion", "this change"], changes) if changes else ["unchanged"]
    added = [f for f in new.features if f not in old.features]
    removed = [f for f in old.features if f not in new.features]
    lines += ["", "### Features", ""]
    lines.append(f"added: {', '.join(added) or 'none'}; removed: {', '.join(removed) or 'none'}")
    lines.append(f"({len(new.features)} features: {', '.join(new.features)})")
    lines += ["", "### Headline metrics (test window)", ""]
    lines += _table(
        ["metric", "champion", "this change", "delta"],
        [
            [
                m,
                old.metrics.get(m),
                new.metrics.get(m),
                _delta(m, new.metrics.get(m), old.metrics.get(m)),
            ]
            for m in HEADLINE
            if m in new.metrics or m in old.metrics
        ],
    )
    old_slices = {(r["slice"], str(r["value"])): r for r in old.slices}
    lines += ["", f"### Slice metrics ({slice_metric})", ""]
    rows = []
    for row in new.slices:
        before = old_slices.get((row["slice"], str(row["value"])), {})
        rows.append(
            [
                f"{row['slice']}={row['value']}",
                row.get("n"),
                before.get(slice_metric),
                row.get(slice_metric),
                _delta(slice_metric, row.get(slice_metric), before.get(slice_metric)),
            ]
        )
    lines += _table(["slice", "n", "champion", "this change", "delta"], rows) if rows else ["none"]
    return "\n".join(lines) + "\n"
