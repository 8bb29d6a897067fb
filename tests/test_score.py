"""`mlpipe score`, the ML Test Score computed from the project's own evidence: the pure
rules on hand-built evidence, then a real toy project (pipeline, gate, registry, a real
pytest run writing JUnit XML) broken in the ways issue 11 lists, each of which must make
the right test's score fall."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from mlpipe.core.errors import DataError
from mlpipe.core.io import read_json, write_json
from mlpipe.core.paths import ProjectPaths
from mlpipe.core.project import Project
from mlpipe.core.registry import CHAMPION, Registry
from mlpipe.monitoring.checks import Check
from mlpipe.release.score import (
    MONITORING,
    RULES,
    SECTIONS,
    Artifact,
    Champion,
    Declared,
    Evidence,
    Finding,
    JUnitCase,
    JUnitRun,
    Rule,
    fresh,
    score,
)
from tasks.score import gather, read_junit
from tasks.score import run as run_score
from tests.helpers import REPO, git_commit, run_cli

NOW = datetime(2026, 6, 1, tzinfo=UTC)
RECENT = NOW - timedelta(days=1)


def by_id(result: dict) -> dict[str, dict]:
    return {t["id"]: t for t in result["tests"]}


def scores(evidence: Evidence) -> dict[str, float]:
    return {s.rule.id: s.finding.score for s in score(evidence, 7.0).tests}


# --- the pure rules -------------------------------------------------------------------


def test_every_test_of_the_rubric_has_exactly_one_rule():
    ids = [rule.id for rule in RULES]
    expected = [f"{prefix}{n}" for prefix in SECTIONS for n in range(1, 8)]
    assert sorted(ids) == sorted(expected)
    for section in SECTIONS.values():
        assert sum(rule.section == section for rule in RULES) == 7


def test_sections_sum_and_the_final_score_is_their_minimum():
    def judge(value: float) -> Callable[[Evidence], Finding]:
        return lambda ev: Finding(value, "e", "c", "r", RECENT)

    values = {"D": 1.0, "M": 1.0, "I": 0.5, "Mo": 1.0}
    rules = tuple(
        Rule(rule.id, rule.name, judge(values[rule.id.rstrip("1234567")])) for rule in RULES
    )
    result = score(Evidence(NOW, 30), 3.5, rules)
    assert result.sections == {"Data": 7.0, "Model": 7.0, "Infrastructure": 3.5, "Monitoring": 7.0}
    assert result.final == 3.5 and result.passed
    assert not score(Evidence(NOW, 30), 4.0, rules).passed
    assert result.to_dict()["tests"][0]["when"] == RECENT.isoformat(timespec="seconds")


def test_no_evidence_scores_zero_and_says_why():
    result = score(Evidence(NOW, 30), 7.0)
    assert result.final == 0 and not result.passed
    for scored in result.tests:
        assert scored.finding.score == 0
        assert scored.finding.result, scored.rule.id


def test_stale_or_undated_credit_is_withdrawn():
    evidence = Evidence(NOW, 30)
    recent = Finding(1.0, "e", "c", "ok", NOW - timedelta(days=29))
    assert fresh(recent, evidence).score == 1
    stale = fresh(Finding(1.0, "e", "c", "ok", NOW - timedelta(days=31)), evidence)
    assert stale.score == 0 and "stale: 31 days old" in stale.result
    assert fresh(Finding(1.0, "settings", "c", "declared"), evidence).score == 0


def monitoring_evidence(checks: list[Check], alerts: tuple = ()) -> Evidence:
    report = {"checks": [check.to_dict() for check in checks]}
    return Evidence(
        NOW, 30, reports={MONITORING: Artifact(MONITORING, report, RECENT)}, alerts=alerts
    )


def test_monitoring_checks_count_when_they_ran_and_a_breach_counts_only_with_an_alert():
    ok = Check("dependency changes", "Mo1", 0, "alert_on_change", False)
    quality = Check("served quality", "Mo7/M2", 0.61, 0.70, True)
    skew = Check("training/serving skew", "Mo3", None, None, False, skipped="no inputs")
    silent = scores(monitoring_evidence([ok, quality, skew]))
    assert silent["Mo1"] == 1
    assert silent["Mo7"] == 0  # breached, nobody told: it only records
    assert silent["Mo3"] == 0  # skipped: it did not run
    told = scores(monitoring_evidence([ok, quality], ((RECENT, ("served quality",)),)))
    assert told["Mo7"] == 1  # breached and alerted: monitoring works
    assert told["M2"] == 0  # but offline and online quality disagree
    earlier = ((RECENT - timedelta(days=2), ("served quality",)),)
    assert scores(monitoring_evidence([quality], earlier))["Mo7"] == 0  # an older alert


def test_model_staleness_needs_the_study_and_monitoring_reading_it():
    staleness = Artifact("reports/staleness.json", {"max_age": 3, "unit": "month"}, RECENT)
    check = Check("model staleness", "Mo4/M4", 5, 3, True)
    evidence = monitoring_evidence([check])
    both = Evidence(NOW, 30, reports={**evidence.reports, staleness.path: staleness})
    assert scores(both)["M4"] == 1  # a breach still shows the study is read
    assert scores(Evidence(NOW, 30, reports={staleness.path: staleness}))["M4"] == 0


def test_identifiers_in_the_clear_in_the_prediction_log_fail_privacy():
    from mlpipe.release.score import PREDICTION_LOG, d5, logged_in_clear

    def log(clear: dict[str, int]) -> Evidence:
        summary = Artifact("data/serving/predictions.db", {"rows": 10, "clear": clear}, RECENT)
        return Evidence(NOW, 30, reports={PREDICTION_LOG: summary})

    assert logged_in_clear(log({"customer_id": 0})).score == 1
    leaked = logged_in_clear(log({"customer_id": 3, "age_band": 0}))
    assert leaked.score == 0 and "{'customer_id': 3}" in leaked.result
    assert "in the clear" in d5(log({"customer_id": 3})).result


def junit(*cases: JUnitCase, when: datetime = RECENT) -> JUnitRun:
    return JUnitRun("reports/tests/junit.xml", when, cases)


def test_tests_count_when_marked_ones_passed_in_a_recent_run():
    passed = JUnitCase("t::a", "passed", ("D7",))
    failed = JUnitCase("t::b", "failed", ("I1",))
    skipped = JUnitCase("t::c", "skipped", ("I2",))
    result = scores(Evidence(NOW, 30, tests=junit(passed, failed, skipped)))
    assert (result["D7"], result["I1"], result["I2"], result["I3"]) == (1, 0, 0, 0)
    old = junit(passed, when=NOW - timedelta(days=60))
    assert scores(Evidence(NOW, 30, tests=old))["D7"] == 0


def test_a_broken_test_report_is_one_clear_error(tmp_path):
    broken = tmp_path / "junit.xml"
    broken.write_text("<testsuites><testsuite")
    with pytest.raises(DataError, match=r"not JUnit XML.*make test"):
        read_junit(broken, "junit.xml")
    assert read_junit(tmp_path / "absent.xml", "absent.xml") is None


def test_manual_and_documented_evidence_scores_a_half():
    history = ({"action": "rollback", "when": RECENT.isoformat(), "to_version": "1"},)
    files = {"reports/explain/visit-7.html": RECENT}
    manual = scores(Evidence(NOW, 30, files=files, history=history))
    assert (manual["I5"], manual["I7"]) == (0.5, 0.5)
    tested = junit(JUnitCase("t::a", "passed", ("I5", "I7")))
    automated = scores(Evidence(NOW, 30, files=files, history=history, tests=tested))
    assert (automated["I5"], automated["I7"]) == (1, 1)


def test_hyperparameters_never_searched_are_reported():
    tuning = Artifact("reports/tuning.json", {"search_id": "s1"}, RECENT)
    champion = Champion("3", {"tuning.applied": "true", "tuning.search_id": "s1"}, RECENT)

    def m3(space: tuple[str, ...]) -> Finding:
        declared = Declared(model_params=("max_iter", "learning_rate", "random_state"))
        evidence = Evidence(
            NOW,
            30,
            reports={tuning.path: tuning},
            champion=champion,
            declared=Declared(**{**declared.__dict__, "tuning_space": space}),
        )
        return next(s.finding for s in score(evidence, 7).tests if s.rule.id == "M3")

    assert m3(("learning_rate", "max_iter")).score == 1  # seeds need no search
    partial = m3(("learning_rate",))
    assert partial.score == 0 and "never tuned: ['max_iter']" in partial.result


# --- a real toy project ---------------------------------------------------------------

MARKED_TESTS = """
import pytest

@pytest.mark.checklist("D4", "D5", "D6", "D7")
def test_passes():
    pass

@pytest.mark.checklist("I2")
def test_fails():
    assert False

@pytest.mark.checklist("I1")
@pytest.mark.skip(reason="not run here")
def test_skipped():
    pass
"""


def record_test_run(root: Path, folder: Path) -> None:
    """A real pytest run of marked tests, through this suite's conftest hooks, writing
    the JUnit XML where `mlpipe score` reads it."""
    folder.mkdir()
    (folder / "test_marked.py").write_text(MARKED_TESTS)
    junit_xml = root / "reports" / "tests" / "junit.xml"
    done = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", str(folder), "-q", "--rootdir", str(folder)),
            *("-p", "tests.conftest", "-p", "no:cacheprovider", f"--junitxml={junit_xml}"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert "1 failed, 1 passed, 1 skipped" in done.stdout, done.stdout + done.stderr


@pytest.fixture(scope="module")
def project(tmp_path_factory, released_copy) -> Path:
    """The released toy project (conftest.build_released: its gate fails on unhelpful
    features, the noise feature accepted with a reason; a registered champion), with a CI
    workflow and a recorded test run; this module's own copy."""
    base = tmp_path_factory.mktemp("score")
    root = released_copy(base / "project")
    workflow = root / ".github" / "workflows" / "ci.yml"
    if not workflow.is_file():
        workflow.parent.mkdir(parents=True)
        workflow.write_text("on: [pull_request]\njobs: {}\n")
        git_commit(root)
    record_test_run(root, base / "marked")
    return root


def current(root: Path, now: datetime | None = None) -> dict[str, float]:
    return {s.rule.id: s.finding.score for s in score(gather(Project.load(root), now), 7).tests}


@pytest.mark.integration
@pytest.mark.xdist_group("released")
def test_the_pipeline_and_the_test_run_are_scored_with_their_evidence(project):
    result = run_score(Project.load(project))
    tests = by_id(result)
    for test_id in ("D1", "D2", "D3", "D4", "D5", "D6", "D7", "M1", "M5", "M6", "M7", "I4"):
        assert tests[test_id]["score"] == 1, tests[test_id]
    assert "passed" in tests["M5"]["result"] and tests["M5"]["when"]
    assert tests["I2"]["score"] == 0 and "failed" in tests["I2"]["result"]
    assert tests["I1"]["score"] == 0 and "skipped" in tests["I1"]["result"]
    assert tests["Mo3"]["score"] == 0 and "mlpipe monitor" in tests["Mo3"]["result"]
    assert result["sections"]["Data"] == 7 and result["final"] == 0 and not result["passed"]
    assert read_json(project / "reports" / "score.json")["sections"] == result["sections"]
    page = (project / "reports" / "score.html").read_text()
    assert "<table>" in page and "D2" in page


@pytest.mark.integration
@pytest.mark.xdist_group("released")
def test_cli_fails_under_the_floor_and_passes_at_it(project):
    done = run_cli(project, "mlpipe", "score")
    assert done.returncode == 1, done.stderr[-2000:]
    assert "ML Test Score" in done.stdout and "under the floor 7" in done.stderr
    assert "Traceback" not in done.stderr
    config = project / "configs" / "score.yaml"
    original = config.read_text()
    try:
        config.write_text("floor: 0\n")
        assert run_cli(project, "mlpipe", "score").returncode == 0
    finally:
        config.write_text(original)


@pytest.fixture(scope="module")
def intact(project) -> dict[str, float]:
    """The scores of the unbroken project (each breakage is undone after its test)."""
    return current(project)


def edit_json(path: Path, change: Callable[[dict], None]) -> Callable[[], None]:
    original = path.read_text()
    data = json.loads(original)
    change(data)
    write_json(path, data)
    return lambda: path.write_text(original)


def fail_rows(words: str, model: str | None = None) -> Callable[[Path], Callable[[], None]]:
    """The gate verdict's rows naming ``words`` failed (for another model when given)."""

    def change(verdict: dict) -> None:
        for row in verdict["checks"]:
            if words in row["check"]:
                row["passed"] = False
        verdict["passed"] = False
        if model:
            verdict["model_sha256"] = model

    return lambda root: edit_json(root / "reports" / "gate" / "verdict.json", change)


def drop_rows(words: str) -> Callable[[Path], Callable[[], None]]:
    def change(verdict: dict) -> None:
        verdict["checks"] = [row for row in verdict["checks"] if words not in row["check"]]

    return lambda root: edit_json(root / "reports" / "gate" / "verdict.json", change)


def champion_tag(key: str, value: str | None) -> Callable[[Path], Callable[[], None]]:
    """Set (or with None, delete) a tag of the champion."""

    def mutate(root: Path) -> Callable[[], None]:
        registry = Registry(ProjectPaths(root))
        version = registry.alias(CHAMPION).version

        def put(new: str | None) -> None:
            if new is None:
                registry.client.delete_model_version_tag(registry.name, version, key)
            else:
                registry.set_tag(version, key, new)

        before = registry.version(version).tags.get(key)
        put(value)
        return lambda: put(before)

    return mutate


def remove(relative: str) -> Callable[[Path], Callable[[], None]]:
    def mutate(root: Path) -> Callable[[], None]:
        path = root / relative
        aside = path.with_name(path.name + ".aside")
        shutil.move(path, aside)
        return lambda: shutil.move(aside, path)

    return mutate


def age(relative: str, days: float) -> Callable[[Path], Callable[[], None]]:
    def mutate(root: Path) -> Callable[[], None]:
        path = root / relative
        stat = path.stat()
        then = time.time() - days * 86400
        os.utime(path, (then, then))
        return lambda: os.utime(path, (stat.st_atime, stat.st_mtime))

    return mutate


def stale_test_run(root: Path) -> Callable[[], None]:
    """The last recorded test run dates from 40 days ago."""
    path = root / "reports" / "tests" / "junit.xml"
    original = path.read_text()
    then = (datetime.now(UTC) - timedelta(days=40)).isoformat()
    path.write_text(re.sub(r'timestamp="[^"]*"', f'timestamp="{then}"', original))
    return lambda: path.write_text(original)


def edit_yaml(relative: str, change: Callable[[dict], None]) -> Callable[[Path], Callable]:
    def mutate(root: Path) -> Callable[[], None]:
        path = root / relative
        original = path.read_text()
        data = yaml.safe_load(original)
        change(data)
        path.write_text(yaml.safe_dump(data))
        return lambda: path.write_text(original)

    return mutate


def fail_validation(root: Path) -> Callable[[], None]:
    def change(report: dict) -> None:
        report["checks"][0]["success"] = False
        report["success"] = False

    return edit_json(root / "reports" / "validation" / "raw.json", change)


def over_budget(root: Path) -> Callable[[], None]:
    def change(costs: dict) -> None:
        costs["minutes"]["over_budget"] = ["9 s per 100k rows > 2"]

    return edit_json(root / "reports" / "feature_costs.json", change)


NO_BUDGET = {"seconds_per_100k_rows": None, "bytes_per_row": None}
BREAKAGES = {
    "validation report deleted": (remove("reports/validation/features.json"), {"D1", "D4"}),
    "validation failed": (fail_validation, {"D1"}),
    "validation report stale": (age("reports/validation/raw.json", 40), {"D1"}),
    "feature costs deleted": (remove("reports/feature_costs.json"), {"D3"}),
    "feature over budget": (over_budget, {"D3"}),
    "importance deleted": (remove("reports/importance.json"), {"D2"}),
    "champion failed the unhelpful-features check": (fail_rows("every feature helps"), {"D2"}),
    "unhelpful features only warned about": (drop_rows("every feature helps"), {"D2"}),
    "no feature budget": (
        edit_yaml("params.yaml", lambda p: p.update(feature_budget=NO_BUDGET)),
        {"D3"},
    ),
    "no prediction-log retention": (
        edit_yaml("configs/serving.yaml", lambda c: c.update(retention_days=None)),
        {"D5"},
    ),
    "no leak alarm in the gate": (drop_rows("leak alarm"), {"D4"}),
    "champion lost to the baseline": (fail_rows("beats the baseline"), {"M5"}),
    "champion failed a slice": (fail_rows("every slice"), {"M6"}),
    "champion's groups too far apart": (fail_rows("gap between groups"), {"M7"}),
    "champion under a floor": (fail_rows("roc_auc floor"), {"I4"}),
    "champion trained from a dirty tree": (champion_tag("git.dirty", "True"), {"M1"}),
    "champion forced past the gate": (
        champion_tag("gate.forced_reason", "deadline"),
        {"D2", "D4", "M5", "M6", "M7", "I4"},
    ),
    "lineage lacks the deletion list": (champion_tag("data.deletions_sha256", None), {"D5"}),
    "no CI workflow": (remove(".github/workflows/ci.yml"), {"M1"}),
    "test results stale": (stale_test_run, {"D4", "D5", "D6", "D7"}),
}


@pytest.mark.integration
@pytest.mark.xdist_group("released")
@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_each_breakage_makes_the_right_tests_fall(project, intact, breakage):
    mutate, falls = BREAKAGES[breakage]
    before = intact
    undo = mutate(project)
    try:
        after = current(project)
    finally:
        undo()
    dropped = {test_id for test_id in before if after[test_id] < before[test_id]}
    assert dropped == falls, (breakage, dropped)
    assert all(before[test_id] == 1 for test_id in falls)


@pytest.mark.integration
@pytest.mark.xdist_group("released")
def test_a_candidate_stopped_by_the_gate_is_the_gate_working(project, intact):
    undo = fail_rows("beats the baseline", model="0" * 64)(project)
    try:
        finding = next(
            s.finding for s in score(gather(Project.load(project)), 7).tests if s.rule.id == "M5"
        )
    finally:
        undo()
    assert finding.score == 1 == intact["M5"]
    assert "stopped the latest candidate" in finding.result
