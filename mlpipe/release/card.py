"""The model card: the domain's text (intended use, known limits) around the facts of one
registered version (data, metrics overall and per slice, gate verdict, lineage)."""

from __future__ import annotations

from typing import Any

from mlpipe.core.configs import HEADLINE
from mlpipe.core.domain import ModelCard


def model_card(
    name: str,
    card: ModelCard,
    tags: dict[str, str],
    evaluation: dict[str, Any],
    slices: list[dict[str, Any]],
    verdict: dict[str, Any],
) -> str:
    model, baseline = evaluation["model"], evaluation["baseline"]
    lines = [
        f"# Model card: {name}",
        "",
        "## Intended use",
        card.intended_use,
        "",
        "## Data",
        f"- source: {tags.get('data.source')} {tags.get('data.source_version')}",
        f"- raw data md5: `{tags.get('data.raw.md5')}`",
        f"- features md5: `{tags.get('data.features.md5')}`",
        "- time windows: see `split` in the params tag; the test window is reported below",
        "",
        f"## Metrics (test window, threshold {evaluation['threshold']:.3f})",
        "| metric | model | baseline |",
        "|---|---|---|",
    ]
    lines += [f"| {m} | {model.get(m)} | {baseline.get(m)} |" for m in HEADLINE]
    lines += [
        "",
        "## Per slice (ROC AUC, rows)",
        "| slice | value | roc_auc | rows | gated |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {row['slice']} | {row['value']} | {row.get('roc_auc')} | {row['n']} | "
        f"{'yes' if row['gated'] else 'no'} |"
        for row in slices
    ]
    lines += [
        "",
        "## Quality gate",
        f"{'passed' if verdict['passed'] else 'FAILED'}: {verdict['note']}",
        "",
        "## Lineage",
        f"- code: `{tags.get('git.commit')}` (dirty: {tags.get('git.dirty')})",
        f"- model sha256: `{tags.get('model.sha256')}`",
        f"- environment: python {tags.get('env.python')}, lock `{tags.get('env.lock_sha256')}`",
        f"- MLflow run: `{tags.get('mlflow.run_id')}`; Prefect flow run: "
        f"`{tags.get('prefect.flow_run_id')}`",
        f"- reproduce: `{tags.get('reproduce')}`",
        "",
        "## Known limits",
        *[f"- {limit}" for limit in card.limits],
    ]
    return "\n".join(lines) + "\n"
