"""train: fit the candidate model and the simple baseline on the training window, with
the model spec of the domain package."""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path
from typing import Any

import joblib

from mlpipe.core.io import atomic_path, file_sha256, write_json
from mlpipe.core.project import Project
from mlpipe.monitoring import history
from mlpipe.training.fit import fit


def run(project: Project) -> dict[str, Any]:
    domain, spec = project.domain, project.domain.model
    train = project.feature_table("train")
    kinds = domain.features.kinds(project.features)

    start = time.perf_counter()
    model = fit(spec.build(kinds, project.model_params), train, project.features, domain.label)
    model_seconds = time.perf_counter() - start
    start = time.perf_counter()
    baseline = fit(
        spec.build_baseline(kinds, project.baseline_params),
        train,
        project.baseline_features,
        domain.label,
    )
    baseline_seconds = time.perf_counter() - start

    artifacts = {"model": model, "baseline": baseline}
    for name, fitted in artifacts.items():
        with atomic_path(project.paths.models / f"{name}.joblib") as tmp:
            joblib.dump(fitted, tmp)
    hashes = {name: file_sha256(project.paths.models / f"{name}.joblib") for name in artifacts}
    write_json(
        project.paths.models / "model.json",
        {
            "features": project.features,
            "feature_kinds": kinds,
            "baseline_features": project.baseline_features,
            "label": domain.label,
            "train_rows": len(train),
            "train_label_rate": round(float(train[domain.label].mean()), 6),
            "model_params": project.model_params.model_dump(),
            "sha256": hashes,
        },
    )
    timings = {
        "model_fit_seconds": round(model_seconds, 3),
        "baseline_fit_seconds": round(baseline_seconds, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    write_json(project.paths.reports / "train_metrics.json", timings)
    # each run's cost, for monitoring to compare with earlier runs started the same way
    # (a flow runs every stage in one process, `dvc repro` each in its own: checklist Mo6)
    entry = " ".join([Path(sys.argv[0]).name, *sys.argv[1:2]]) if sys.argv else ""
    record = {"at": time.time(), "entry": entry, "train_rows": len(train), **timings}
    history.append(history.training_history(project.paths), record)
    return {"train_rows": len(train), "model_sha256": hashes["model"], **timings}
