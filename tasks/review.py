"""review: judge the challenger on the prediction log window (mlpipe.release.review),
write the review, and act on it through mlpipe.release.aliases. The promotion flow's steps."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from mlpipe.core.io import write_json, write_text
from mlpipe.core.project import Project
from mlpipe.core.registry import CHALLENGER, CHAMPION, Registry
from mlpipe.release import aliases
from mlpipe.release.review import Review, review
from mlpipe.serving.predictionlog import read_window


def review_from_log(project: Project, window_hours: float | None = None) -> Review:
    settings = project.configs.serving
    since = time.time() - window_hours * 3600 if window_hours else None
    log = read_window(project.paths.root / settings.log_path, since=since)
    registry = Registry(project.paths)
    challenger, champion = registry.alias(CHALLENGER), registry.alias(CHAMPION)
    result = review(
        log,
        challenger.version if challenger is not None else None,
        champion.version if champion is not None else None,
        settings.promotion,
        settings.canary_limits,
    )
    folder = project.paths.reports / "promotion"
    # when it was made: `mlpipe promote` only rests on a recent review
    made = datetime.now(UTC).isoformat(timespec="seconds")
    write_json(folder / "review.json", {**result.to_dict(), "reviewed_at": made})
    write_text(folder / "review.md", result.markdown())
    return result


def act(project: Project, decision: dict[str, Any]) -> str:
    """Apply the decision to the registry (audited); returns what was done."""
    registry = Registry(project.paths)
    version = decision["challenger_version"]
    why = "; ".join(decision["reasons"])
    if decision["decision"] == "promote":
        aliases.promote(registry, version)
        return f"promoted v{version} to champion"
    if decision["decision"] in ("reject", "rollback"):
        action = "canary rollback" if decision["decision"] == "rollback" else "reject"
        if aliases.retire_challenger(registry, version, action, why):
            return f"{action}: v{version} is no longer challenger"
        return "challenger changed meanwhile: nothing done"
    return "nothing done"


def run(project: Project, window_hours: str | None = None) -> dict[str, Any]:
    """`mlpipe stage review [HOURS]`: review and act, without the flow."""
    decision = review_from_log(project, float(window_hours) if window_hours else None).to_dict()
    return {**decision, "outcome": act(project, decision)}
