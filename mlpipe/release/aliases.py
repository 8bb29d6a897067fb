"""Every alias move, in one place: first registration, challenger, promote, reject, roll
back. No retraining, seconds; each move is audited in the registry (AuditEvent), and
whatever a killed process left half-done is finished or undone first (``recover``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mlpipe.core.registry import (
    CHALLENGER,
    CHAMPION,
    REGISTER_PREFIX,
    AuditEvent,
    Registry,
    RegistryError,
    VersionInfo,
)

ROLLED_BACK_TAG = "rolled_back"


@dataclass(frozen=True)
class Evidence:
    """The promotion review a promotion rests on (reports/promotion/review.json, None
    when there is none) and how old it may be."""

    review: dict[str, Any] | None
    max_age_hours: float


def check_evidence(
    evidence: Evidence, target: VersionInfo, champion: VersionInfo | None, now: datetime
) -> None:
    """Refuse unless a recent review decided "promote" for this challenger against this
    champion (checklist I6: a promotion follows the shadow or canary evidence)."""
    review = evidence.review
    hint = "run `mlpipe review` first, or --force --reason '...'"
    if review is None:
        raise RegistryError(f"no promotion review to rest on: {hint}")
    problems = []
    if review.get("decision") != "promote":
        problems.append(f"its decision is {review.get('decision')!r}, not 'promote'")
    if str(review.get("challenger_version")) != target.version:
        problems.append(f"it judged v{review.get('challenger_version')}, not v{target.version}")
    if champion is not None and str(review.get("champion_version")) != champion.version:
        problems.append(
            f"it compared against champion v{review.get('champion_version')}, "
            f"the champion is v{champion.version} now"
        )
    try:
        age = (now - datetime.fromisoformat(review["reviewed_at"])).total_seconds() / 3600
    except (KeyError, TypeError, ValueError):
        problems.append("it does not say when it was made")
    else:
        if age > evidence.max_age_hours:
            problems.append(f"it is {age:.1f} h old (at most {evidence.max_age_hours:g} h)")
    if problems:
        raise RegistryError(
            "the promotion review does not support this promotion: "
            + "; ".join(problems)
            + f": {hint}"
        )


def _require_passed(version: VersionInfo, force_reason: str | None) -> None:
    if not version.passed_gate and not force_reason:
        raise RegistryError(
            f"version {version.version} never passed the quality gate "
            f"(verdict: {version.gate_verdict}); use --force --reason '...' to override"
        )


def on_registration(registry: Registry, version: str, force_reason: str | None) -> str:
    """A new version becomes champion if there is none, else challenger. Call inside
    ``registry.lock()``; returns the alias given."""
    why = force_reason or "passed the quality gate"
    if registry.alias(CHAMPION) is None:
        registry.move_alias(CHAMPION, version, "register (first model)", why)
        return CHAMPION
    registry.move_alias(CHALLENGER, version, "register", why)
    return CHALLENGER


def recover(registry: Registry) -> list[str]:
    """Finish or undo what a killed registry command left: half-done alias operations
    (``Registry.recover_moves``), then registrations whose version exists without its
    alias (it gets one now, audited) or was never created (the intent is dropped; the
    next `mlpipe register` registers it). Cheap when nothing is pending. Returns notes."""
    if not registry.pending():
        return []
    with registry.lock():
        notes = registry.recover_moves()
        for key, intent in registry.pending().items():
            if not key.startswith(REGISTER_PREFIX):
                continue
            version = registry.find_by_tag("model.sha256", intent["sha256"])
            if version is None:
                notes.append("dropped an interrupted registration: no version had been created")
            elif any(
                e.to_version == version.version and e.action.startswith("register")
                for e in registry.history()
            ):
                notes.append(f"v{version.version} had its alias: closed its registration")
            else:
                alias = on_registration(registry, version.version, intent.get("force_reason"))
                notes.append(
                    f"finished the interrupted registration of v{version.version}: {alias}"
                )
            registry.end_intent(key)
        return notes


def promote(
    registry: Registry,
    version: str | None = None,
    force_reason: str | None = None,
    evidence: Evidence | None = None,
) -> AuditEvent:
    """Make ``version`` (default: the challenger) the champion, after re-checking its gate
    and, when ``evidence`` is given, that the promotion review supports it."""
    with registry.lock():
        recover(registry)
        target = registry.version(version) if version else registry.alias(CHALLENGER)
        if target is None:
            raise RegistryError(f"{registry.name} has no challenger to promote")
        _require_passed(target, force_reason)
        current = registry.alias(CHAMPION)
        if current is not None and current.version == target.version:
            raise RegistryError(f"version {target.version} is already the champion")
        if evidence is not None and not force_reason:
            check_evidence(evidence, target, current, datetime.now(UTC))
        why = force_reason or (
            "the promotion review supports it" if evidence else "challenger passed its gate"
        )
        challenger = registry.alias(CHALLENGER)
        moves: list[tuple[str, str | None]] = [(CHAMPION, target.version)]
        if challenger is not None and challenger.version == target.version:
            moves.append((CHALLENGER, None))
        return registry.move_aliases(moves, "promote", why)[0]


def retire_challenger(registry: Registry, version: str, action: str, why: str) -> bool:
    """Remove the challenger alias from ``version`` (a rejected review, a canary rolled
    back); False when the challenger changed meanwhile."""
    with registry.lock():
        recover(registry)
        current = registry.alias(CHALLENGER)
        if current is None or current.version != version:
            return False
        registry.move_alias(CHALLENGER, None, action, why)
        return True


def _previous_champion(registry: Registry, current: str) -> str | None:
    """The latest earlier champion that was not itself rolled back."""
    timeline = [
        e.to_version for e in registry.history() if e.alias == CHAMPION and e.to_version is not None
    ]
    for version in reversed(timeline):
        if version == current:
            continue
        if registry.version(version).tags.get(ROLLED_BACK_TAG) != "true":
            return version
    return None


def rollback(
    registry: Registry, to: str | None = None, force_reason: str | None = None, why: str = ""
) -> AuditEvent:
    """Move ``champion`` back to the previous champion, or to version ``to``.

    A plain rollback marks the version it leaves as rolled back, so a later rollback
    never returns to it; ``to`` is an explicit choice and marks nothing."""
    with registry.lock():
        recover(registry)
        current = registry.alias(CHAMPION)
        if current is None:
            raise RegistryError(f"{registry.name} has no champion to roll back")
        stepping_back = to is None
        if to is None:
            to = _previous_champion(registry, current.version)
            if to is None:
                raise RegistryError(
                    f"no earlier champion to roll back to (v{current.version} is the only one)"
                )
        target = registry.version(to)
        if target.version == current.version:
            raise RegistryError(f"version {target.version} is already the champion")
        _require_passed(target, force_reason)
        tags = [(target.version, ROLLED_BACK_TAG, "false")]
        if stepping_back:
            tags.insert(0, (current.version, ROLLED_BACK_TAG, "true"))
        return registry.move_aliases(
            [(CHAMPION, target.version)], "rollback", force_reason or why or "rollback", tags
        )[0]
