"""register: put a gated candidate in the MLflow Model Registry with its full lineage.

A side effect, so not a DVC stage. The same model (same content hash) is never
registered twice: the existing version is reported instead. The first version ever
becomes ``champion``; later ones become ``challenger`` until promoted."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from mlpipe.context import StageContext
from mlpipe.errors import GateFailed
from mlpipe.io import file_sha256, read_json, write_json
from mlpipe.lineage import dvc_lock_hashes, environment
from mlpipe.registry import CHALLENGER, CHAMPION, Registry, RegistryError
from mlpipe.summary import HEADLINE

RUN_TAG_PREFIXES = ("git.", "data.", "env.", "model.", "prefect.", "reproduce")


def model_card(
    name: str,
    tags: dict[str, str],
    evaluation: dict[str, Any],
    slices: list[dict[str, Any]],
    verdict: dict[str, Any],
) -> str:
    """A markdown model card: intended use, data, metrics overall and per slice, lineage."""
    model, baseline = evaluation["model"], evaluation["baseline"]
    lines = [
        f"# Model card: {name}",
        "",
        "## Intended use",
        "Predicts, before departure, the probability that a flight leaving New York "
        "arrives 15 or more minutes late, from schedule, carrier, route, aircraft and "
        "origin weather. For planning and alerting, not for decisions about individuals.",
        "",
        "## Data",
        f"- source: {tags.get('data.source')} {tags.get('data.source_version')}",
        f"- raw data md5: `{tags.get('data.raw.md5')}`",
        f"- features md5: `{tags.get('data.features.md5')}`",
        "- time splits: see `split` in the params tag; the test window is reported below",
        "",
        f"## Metrics (test window, threshold {evaluation['threshold']:.3f})",
        "| metric | model | baseline |",
        "|---|---|---|",
    ]
    for metric in HEADLINE:
        lines.append(f"| {metric} | {model.get(metric)} | {baseline.get(metric)} |")
    lines += [
        "",
        "## Per slice (ROC AUC, rows)",
        "| slice | value | roc_auc | rows | gated |",
        "|---|---|---|---|---|",
    ]
    for row in slices:
        lines.append(
            f"| {row['slice']} | {row['value']} | {row.get('roc_auc')} | {row['n']} | "
            f"{'yes' if row['gated'] else 'no'} |"
        )
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
        "- Trained on 2013 New York departures only; quality decays with model age.",
        "- Weaker at JFK than at EWR and LGA (see the per-slice table).",
        "- Carriers with few test flights are reported but not gated.",
    ]
    return "\n".join(lines) + "\n"


def lineage_tags(
    ctx: StageContext,
    run_tags: dict[str, str],
    verdict: dict[str, Any],
    run_id: str,
    evaluation: dict[str, Any],
    force_reason: str | None,
) -> dict[str, str]:
    params_text = ctx.paths.params.read_text()
    hashes = dvc_lock_hashes(ctx.paths.root)
    provenance = read_json(ctx.paths.raw_provenance)
    env = environment(ctx.paths.root)
    tags = {k: v for k, v in run_tags.items() if k.startswith(RUN_TAG_PREFIXES)}
    tags.update(
        {
            "mlflow.run_id": run_id,
            "params.sha256": hashlib.sha256(params_text.encode()).hexdigest(),
            "params": json.dumps(ctx.params.model_dump(mode="json"), sort_keys=True),
            "data.raw.md5": hashes.get("data/raw", tags.get("data.raw.md5", "")),
            "data.features.md5": hashes.get(
                "data/features/features.parquet", tags.get("data.features.md5", "")
            ),
            "data.extracted_at": str(provenance.get("extracted_at")),
            "model.features": json.dumps(ctx.params.features),
            "model.threshold": str(evaluation["threshold"]),
            "metrics.test.roc_auc": str(evaluation["model"].get("roc_auc")),
            "metrics.test.pr_auc": str(evaluation["model"].get("pr_auc")),
            "env.registered_lock_sha256": str(env["lock_sha256"]),
            "gate.verdict": "passed" if verdict["passed"] else "failed",
            "gate.champion_compared": str(verdict.get("champion_version")),
            "reproduce": f"git checkout {tags.get('git.commit')} && dvc repro && mlpipe register",
        }
    )
    if force_reason:
        tags["gate.forced_reason"] = force_reason
    return {key: str(value) for key, value in tags.items()}


def run(ctx: StageContext, force_reason: str | None = None) -> dict[str, Any]:
    paths = ctx.paths
    verdict = read_json(paths.reports / "gate" / "verdict.json")
    sha256 = file_sha256(paths.models / "model.joblib")
    if verdict.get("model_sha256") != sha256:
        raise GateFailed("reports/gate/verdict.json judged another model: run `mlpipe gate` first")
    if not verdict.get("passed") and not force_reason:
        raise GateFailed(
            "the candidate failed the quality gate: nothing registered "
            "(use --force --reason '...' for a documented exception)"
        )
    mlflow_run = read_json(paths.reports / "mlflow_run.json")
    evaluation = read_json(paths.reports / "metrics.json")
    slices = read_json(paths.reports / "slice_metrics.json")

    registry = Registry(paths, must_exist=True)
    with registry.lock():
        existing = registry.find_by_tag("model.sha256", sha256)
        if existing is not None:
            result = {"version": str(existing.version), "new": False, "alias": None}
            write_json(paths.reports / "registration.json", result)
            return result
        run_tags = registry.client.get_run(mlflow_run["run_id"]).data.tags
        tags = lineage_tags(ctx, run_tags, verdict, mlflow_run["run_id"], evaluation, force_reason)
        if tags.get("model.sha256") != sha256:
            raise RegistryError(
                "the MLflow run logged a different model than models/: "
                "run the pipeline again before registering"
            )
        card = model_card(registry.name, tags, evaluation, slices, verdict)
        registry.client.log_text(mlflow_run["run_id"], card, "model_card.md")
        version = registry.register(mlflow_run["model_uri"], mlflow_run["run_id"], tags, card)
        why = force_reason or "passed the quality gate"
        alias = CHAMPION if registry.alias(CHAMPION) is None else CHALLENGER
        action = "register (first model)" if alias == CHAMPION else "register"
        registry.move_alias(alias, str(version.version), action, why)
    result = {"version": str(version.version), "new": True, "alias": alias}
    write_json(paths.reports / "registration.json", result)
    return result
