"""The I/O around mlpipe.promotion: read the log window, act on the registry, write the
report. Called by the promotion flow's tasks."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from mlpipe.io import write_json, write_text
from mlpipe.lifecycle import promote
from mlpipe.paths import ProjectPaths
from mlpipe.predictionlog import read_window
from mlpipe.promotion import Review, review
from mlpipe.registry import CHALLENGER, CHAMPION, Registry
from mlpipe.service import load_serving_settings


def review_from_log(root: Path, window_hours: float | None = None) -> Review:
    settings = load_serving_settings(root)
    since = time.time() - window_hours * 3600 if window_hours else None
    log = read_window(root / settings.log_path, since=since)
    registry = Registry(ProjectPaths(root))
    challenger, champion = registry.alias(CHALLENGER), registry.alias(CHAMPION)
    result = review(
        log,
        str(challenger.version) if challenger is not None else None,
        str(champion.version) if champion is not None else None,
        settings.promotion,
        settings.canary_limits,
    )
    folder = root / "reports" / "promotion"
    write_json(folder / "review.json", result.to_dict())
    write_text(folder / "review.md", result.markdown())
    return result


def act(root: Path, decision: dict[str, Any]) -> str:
    """Apply the decision to the registry (audited); returns what was done."""
    registry = Registry(ProjectPaths(root))
    version = decision["challenger_version"]
    why = "; ".join(decision["reasons"])
    if decision["decision"] == "promote":
        promote(registry, version)
        return f"promoted v{version} to champion"
    if decision["decision"] in ("reject", "rollback"):
        with registry.lock():
            current = registry.alias(CHALLENGER)
            if current is not None and str(current.version) == version:
                action = "canary rollback" if decision["decision"] == "rollback" else "reject"
                registry.move_alias(CHALLENGER, None, action, why)
                return f"{action}: v{version} is no longer challenger"
        return "challenger changed meanwhile: nothing done"
    return "nothing done"
