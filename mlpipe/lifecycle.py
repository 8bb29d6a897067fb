"""Alias moves: promote a challenger, roll the champion back. No retraining, seconds.

Every move is audited in the registry (mlpipe.registry.AuditEvent)."""

from __future__ import annotations

from typing import Any

from mlpipe.registry import CHALLENGER, CHAMPION, AuditEvent, Registry, RegistryError

ROLLED_BACK_TAG = "rolled_back"


def _require_passed(version: Any, force_reason: str | None) -> None:
    if version.tags.get("gate.verdict") != "passed" and not force_reason:
        raise RegistryError(
            f"version {version.version} never passed the quality gate "
            f"(verdict: {version.tags.get('gate.verdict', 'none')}); "
            "use --force --reason '...' to override"
        )


def promote(
    registry: Registry, version: str | None = None, force_reason: str | None = None
) -> AuditEvent:
    """Make ``version`` (default: the challenger) the champion, after re-checking its gate."""
    with registry.lock():
        target = registry.version(version) if version else registry.alias(CHALLENGER)
        if target is None:
            raise RegistryError(f"{registry.name} has no challenger to promote")
        _require_passed(target, force_reason)
        current = registry.alias(CHAMPION)
        if current is not None and str(current.version) == str(target.version):
            raise RegistryError(f"version {target.version} is already the champion")
        why = force_reason or "challenger passed its gate"
        event = registry.move_alias(CHAMPION, str(target.version), "promote", why)
        challenger = registry.alias(CHALLENGER)
        if challenger is not None and str(challenger.version) == str(target.version):
            registry.move_alias(CHALLENGER, None, "promote", f"v{target.version} is champion now")
        return event


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
        current = registry.alias(CHAMPION)
        if current is None:
            raise RegistryError(f"{registry.name} has no champion to roll back")
        stepping_back = to is None
        if to is None:
            to = _previous_champion(registry, str(current.version))
            if to is None:
                raise RegistryError(
                    f"no earlier champion to roll back to (v{current.version} is the only one)"
                )
        target = registry.version(to)
        if str(target.version) == str(current.version):
            raise RegistryError(f"version {target.version} is already the champion")
        _require_passed(target, force_reason)
        if stepping_back:
            registry.client.set_model_version_tag(
                registry.name, str(current.version), ROLLED_BACK_TAG, "true"
            )
        registry.client.set_model_version_tag(
            registry.name, str(target.version), ROLLED_BACK_TAG, "false"
        )
        return registry.move_alias(
            CHAMPION, str(target.version), "rollback", force_reason or why or "rollback"
        )
