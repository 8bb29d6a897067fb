"""The ML Test Score (Breck et al., IEEE Big Data 2017) of a project, computed from the
evidence the project produced itself. Pure: an ``Evidence`` snapshot in, a ``Score`` out
(tasks/score.py gathers the snapshot and writes the reports).

One rule per test (``RULES``: id, section, name, judge). A test scores
- 1 when a check that can fail ran automatically (pipeline stage, gate, monitoring, test
  suite), passed, and is younger than ``max_age_days``;
- 0.5 when it was done by hand and written down (only I5: an explanation produced with
  `mlpipe explain`; I7: a rollback in the registry's audit history);
- 0 when the evidence is missing, stale or failing, or only records (a flag nothing reads).

What counts as failing depends on what the test asks:
- a gate check (M5, M6, M7, I4, D2, D4) that failed *for the serving champion* is a failing
  model: 0. The same check failing for a later candidate that was therefore not
  registered is the gate doing its job: it still counts.
- a monitoring check (Mo1-Mo7) that breached *and raised an alert* is the monitoring
  system working (the rubric asks whether the test runs automatically and tells someone):
  1; a breach that raised no alert only records: 0; a skipped check: 0. M2 asks that
  offline and online quality agree, so a breach of the served-quality check fails M2.
- a test marked ``@pytest.mark.checklist(ID)`` that failed in the last recorded test run
  (the JUnit XML of `make test`): 0.
Settings (a declared policy, a config file) are needed but never sufficient: a test
scores only with a dated result of something that ran.

Each section sums to 0..7; the final score is the minimum of the four sections."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

SECTIONS = {"D": "Data", "M": "Model", "I": "Infrastructure", "Mo": "Monitoring"}

VERDICT = "reports/gate/verdict.json"
# the key of the prediction log's privacy summary among the reports
PREDICTION_LOG = "prediction log"
MONITORING = "reports/monitoring/report.json"
# the JSON reports the rules read, relative to the project root
REPORTS = (
    "reports/validation/raw.json",
    "reports/validation/features.json",
    "reports/importance.json",
    "reports/feature_costs.json",
    "reports/staleness.json",
    "reports/tuning.json",
    "reports/promotion/review.json",
    VERDICT,
    MONITORING,
)
# other files whose presence (and age) is evidence
FILES = (".github/workflows/ci.yml", ".pre-commit-config.yaml", "reports/explain/*.html")
# model parameters a search need not cover (seeds choose a sample, not a model)
UNTUNABLE = re.compile(r"random_state|seed")
_TEST_ID = re.compile(r"\b(Mo[1-7]|[DMI][1-7])\b")


# --- the evidence snapshot ----------------------------------------------------------


@dataclass(frozen=True)
class Artifact:
    """A report file: its parsed content (None when missing or unreadable) and when it
    was written."""

    path: str
    data: Any = None
    when: datetime | None = None
    error: str | None = None


@dataclass(frozen=True)
class JUnitCase:
    name: str
    outcome: str  # passed | failed | skipped
    ids: tuple[str, ...]


@dataclass(frozen=True)
class JUnitRun:
    source: str
    when: datetime | None
    cases: tuple[JUnitCase, ...]


@dataclass(frozen=True)
class Champion:
    version: str
    tags: dict[str, str]
    when: datetime


@dataclass(frozen=True)
class Declared:
    """What the project's settings declare (static: never sufficient alone)."""

    outcomes: tuple[str, ...] = ()
    identifiers: tuple[str, ...] = ()
    sensitive: tuple[str, ...] = ()
    features: tuple[str, ...] = ()
    feature_budget: bool = False
    retention_days: float | None = None
    model_params: tuple[str, ...] = ()
    tuning_space: tuple[str, ...] = ()


@dataclass(frozen=True)
class Evidence:
    now: datetime
    max_age_days: float
    reports: dict[str, Artifact] = field(default_factory=dict)
    files: dict[str, datetime] = field(default_factory=dict)
    tests: JUnitRun | None = None
    champion: Champion | None = None
    registry_note: str = "no model registry"
    history: tuple[dict[str, Any], ...] = ()
    alerts: tuple[tuple[datetime, tuple[str, ...]], ...] = ()
    declared: Declared = Declared()

    def report(self, path: str) -> Artifact:
        return self.reports.get(path) or Artifact(path)


# --- findings -----------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """What one rule found: its score, the evidence (file, tag, report), the check, the
    check's last result, and when that result was produced (None: a static setting)."""

    score: float
    evidence: str
    check: str
    result: str
    when: datetime | None = None


def missing(evidence: str, check: str, why: str) -> Finding:
    return Finding(0.0, evidence, check, why)


def all_of(*findings: Finding) -> Finding:
    """Every part is needed: the lowest score, the oldest date; the result of the parts
    that fall short (of every part when none does)."""
    dated = [f.when for f in findings if f.when is not None]
    lowest = min(f.score for f in findings)
    short = [f for f in findings if f.score == lowest] if lowest < 1 else findings
    return Finding(
        lowest,
        "; ".join(dict.fromkeys(f.evidence for f in findings)),
        "; ".join(f.check for f in findings),
        "; ".join(f.result for f in short),
        min(dated) if dated else None,
    )


def best_of(*findings: Finding) -> Finding:
    """Any part will do: the highest-scoring one (the first on a tie)."""
    return max(findings, key=lambda f: f.score)


def fresh(finding: Finding, evidence: Evidence) -> Finding:
    """Credit needs a dated result younger than ``max_age_days``; static settings alone
    prove nothing ran."""
    if finding.score == 0:
        return finding
    if finding.when is None:
        return replace(finding, score=0.0, result=f"no dated result; {finding.result}")
    age = (evidence.now - finding.when).total_seconds() / 86400
    if age > evidence.max_age_days:
        result = f"stale: {age:.0f} days old (max {evidence.max_age_days:g}); {finding.result}"
        return replace(finding, score=0.0, result=result)
    return finding


# --- evidence of each kind ----------------------------------------------------------


def present(evidence: Evidence, path: str, check: str, hint: str) -> Finding:
    """A report that exists and parses (its content is judged elsewhere)."""
    artifact = evidence.report(path)
    if artifact.data is None:
        return missing(path, check, artifact.error or f"missing: {hint}")
    return Finding(1.0, path, check, "present", artifact.when)


def validation(evidence: Evidence, dataset: str) -> Finding:
    """A Great Expectations report of the pipeline: it ran checks and all passed."""
    path = f"reports/validation/{dataset}.json"
    artifact = evidence.report(path)
    check = f"GX suite on {dataset} data"
    data = artifact.data
    if not isinstance(data, dict):
        return missing(path, check, artifact.error or "missing: run `make run`")
    checks = data.get("checks") or []
    failed = [c.get("name") for c in checks if not c.get("success")]
    if not checks:
        return Finding(0.0, path, check, "no expectation was evaluated", artifact.when)
    if failed or not data.get("success"):
        return Finding(0.0, path, check, f"failed: {failed}", artifact.when)
    return Finding(1.0, path, check, f"{len(checks)} expectations passed", artifact.when)


def column_set(evidence: Evidence) -> Finding:
    """The feature table's exact column set is one of the validated expectations."""
    path = "reports/validation/features.json"
    artifact = evidence.report(path)
    check = "feature table has exactly the declared columns"
    data = artifact.data if isinstance(artifact.data, dict) else {}
    checks = data.get("checks") or []
    found = [c for c in checks if c.get("expectation") in COLUMN_SET_CHECKS]
    if not found:
        return missing(path, check, "no column-set expectation in the features report")
    if not all(c.get("success") for c in found):
        return Finding(0.0, path, check, "failed", artifact.when)
    return Finding(1.0, path, check, "exact column set passed", artifact.when)


COLUMN_SET_CHECKS = ("exact column set", "expect_table_columns_to_match_set")

# the gate verdict's rows of each test (substrings of the check names), and what to do
# when the verdict has none
GATE_CHECKS: dict[str, tuple[tuple[str, ...], str]] = {
    "D2": (
        ("every feature helps",),
        "no failing check: configs/gate.yaml features.unhelpful: fail (warn only records)",
    ),
    "D4": (("leak alarm",), "no leak alarm: configs/gate.yaml leak"),
    "M5": (("beats the baseline",), "no baseline check: configs/gate.yaml baseline"),
    "M6": (("every slice",), "no slice check: configs/gate.yaml slices"),
    "M7": (("gap between groups",), "no group gap: configs/gate.yaml inclusion.groups"),
    "I4": (
        ("floor", "candidate metrics are defined", "not worse than the champion"),
        "no floors: configs/gate.yaml floors",
    ),
}


def gate(evidence: Evidence, test_id: str) -> Finding:
    """The gate verdict's rows for this test ran, and the serving champion passed them."""
    artifact = evidence.report(VERDICT)
    verdict = artifact.data
    patterns, hint = GATE_CHECKS[test_id]
    check = f"gate: {' / '.join(patterns)}"
    if not isinstance(verdict, dict):
        return missing(VERDICT, check, artifact.error or "missing: run `make run`")
    rows = [
        row
        for row in verdict.get("checks") or []
        if any(p in str(row.get("check", "")).lower() for p in patterns)
    ]
    if not rows:
        return Finding(0.0, VERDICT, check, hint, artifact.when)
    champion = evidence.champion
    if champion is None:
        return Finding(0.0, VERDICT, check, evidence.registry_note, artifact.when)
    tags = champion.tags
    where = f"{VERDICT}, champion v{champion.version} gate.verdict"
    if tags.get("gate.verdict") != "passed" or tags.get("gate.forced_reason"):
        forced = tags.get("gate.forced_reason")
        result = f"champion v{champion.version} serves without passing the gate" + (
            f" (forced: {forced})" if forced else ""
        )
        return Finding(0.0, where, check, result, artifact.when)
    failed = [str(row.get("check")) for row in rows if not row.get("passed")]
    names = ", ".join(str(row.get("check")) for row in rows)
    if not failed:
        return Finding(1.0, where, check, f"passed: {names}", artifact.when)
    if verdict.get("model_sha256") == tags.get("model.sha256"):
        return Finding(0.0, where, check, f"champion failed: {failed}", artifact.when)
    result = f"stopped the latest candidate ({failed}); champion v{champion.version} passed"
    return Finding(1.0, where, check, result, artifact.when)


def monitoring(
    evidence: Evidence, test_id: str, names: tuple[str, ...], on_breach: str = "alert"
) -> Finding:
    """The monitoring report's checks for this test (by checklist id or name) ran.
    ``on_breach``: "alert" (a breach counts only with an alert raised), "fail", "ok"."""
    artifact = evidence.report(MONITORING)
    report = artifact.data
    check = f"monitoring: {' / '.join(names)}"
    if not isinstance(report, dict):
        why = artifact.error or "missing: run `mlpipe serve`, `mlpipe replay`, `mlpipe monitor`"
        return missing(MONITORING, check, why)
    found = [
        c
        for c in report.get("checks") or []
        if c.get("name") in names or test_id in checklist_ids(str(c.get("checklist", "")))
    ]
    if not found:
        return Finding(0.0, MONITORING, check, "no such check in the report", artifact.when)
    results = []
    score = 1.0
    for item in found:
        name = item.get("name")
        if item.get("skipped"):
            score, state = 0.0, f"skipped ({item['skipped']})"
        elif not item.get("breached"):
            state = f"ok ({_short(item.get('value'))})"
        elif on_breach == "ok":
            state = "breached (the check ran)"
        elif on_breach == "alert" and alerted(evidence, name, artifact.when):
            state = "breached and alerted"
        else:
            score = 0.0
            state = "breached" if on_breach == "fail" else "breached without an alert"
        results.append(f"{name}: {state}")
    return Finding(score, MONITORING, check, "; ".join(results), artifact.when)


def _short(value: Any) -> str:
    """A check's value on one short line."""
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items())[:60]
    return str(value)[:60]


def alerted(evidence: Evidence, name: str, since: datetime | None) -> bool:
    return any(
        name in names and (since is None or when >= since) for when, names in evidence.alerts
    )


def tests(evidence: Evidence, test_id: str) -> Finding:
    """Tests marked ``@pytest.mark.checklist("<id>")`` ran in the last recorded test run
    and all passed."""
    run = evidence.tests
    check = f"tests marked checklist({test_id})"
    if run is None:
        return missing("reports/tests/junit.xml", check, "no test results: run `make test`")
    cases = [case for case in run.cases if test_id in case.ids]
    failed = [case.name for case in cases if case.outcome == "failed"]
    passed = [case.name for case in cases if case.outcome == "passed"]
    if failed:
        return Finding(0.0, run.source, check, f"failed: {failed}", run.when)
    if not passed:
        why = "all skipped" if cases else "none in the last run"
        return Finding(0.0, run.source, check, why, run.when)
    shown = ", ".join(name.rsplit("::", 1)[-1] for name in passed[:3])
    more = f" (+{len(passed) - 3})" if len(passed) > 3 else ""
    return Finding(1.0, run.source, check, f"{len(passed)} passed: {shown}{more}", run.when)


def champion_tags(evidence: Evidence, check: str, keys: tuple[str, ...]) -> Finding:
    """The serving champion's registry tags name these keys (their values shown)."""
    champion = evidence.champion
    if champion is None:
        return missing("registry", check, evidence.registry_note)
    where = f"registry: champion v{champion.version}"
    absent = [key for key in keys if champion.tags.get(key) in (None, "", "None")]
    if absent:
        return Finding(0.0, where, check, f"tags {absent} missing", champion.when)
    shown = ", ".join(f"{key}={champion.tags[key][:12]}" for key in keys)
    return Finding(1.0, where, check, shown, champion.when)


def declared(what: str, values: Any, hint: str) -> Finding:
    """A static setting (undated): needed, never sufficient."""
    if not values:
        return missing("settings", what, f"not declared: {hint}")
    return Finding(1.0, "settings", what, f"{what}: {values}")


def file_exists(evidence: Evidence, pattern: str, dated: bool = False) -> Finding:
    """Files matching ``pattern``: a setting of the repository (undated), or an output
    (``dated``: as recent as the newest one)."""
    matches = {p: w for p, w in evidence.files.items() if re.fullmatch(_glob(pattern), p)}
    check = f"{pattern} exists"
    if not matches:
        return missing(pattern, check, f"missing: {pattern}")
    when = max(matches.values()) if dated else None
    return Finding(1.0, pattern, check, f"{', '.join(sorted(matches))[:80]} present", when)


def _glob(pattern: str) -> str:
    return ".*".join(re.escape(part) for part in pattern.split("*"))


# --- the rules ----------------------------------------------------------------------


def d1(ev: Evidence) -> Finding:
    return all_of(validation(ev, "raw"), validation(ev, "features"))


def d2(ev: Evidence) -> Finding:
    importance = present(ev, "reports/importance.json", "permutation importance", "run `make run`")
    return all_of(importance, gate(ev, "D2"))


def d3(ev: Evidence) -> Finding:
    path = "reports/feature_costs.json"
    artifact = ev.report(path)
    check = "feature costs within params.yaml feature_budget (featurize fails otherwise)"
    if not ev.declared.feature_budget:
        return missing("params.yaml", check, "no feature_budget declared")
    if not isinstance(artifact.data, dict):
        return missing(path, check, artifact.error or "missing: run `make run`")
    unmeasured = sorted(set(ev.declared.features) - set(artifact.data))
    if unmeasured:
        return Finding(0.0, path, check, f"no cost measured for {unmeasured}", artifact.when)
    over = sorted(
        name
        for name, cost in artifact.data.items()
        if isinstance(cost, dict) and cost.get("over_budget")
    )
    if over:
        return Finding(0.0, path, check, f"over budget: {over}", artifact.when)
    return Finding(1.0, path, check, f"{len(artifact.data)} features measured", artifact.when)


def d4(ev: Evidence) -> Finding:
    d = ev.declared
    policy = declared(
        "outcomes and identifiers (never features: Project.load)",
        [*d.outcomes, *d.identifiers],
        "the domain's outcomes / identifiers",
    )
    return all_of(policy, column_set(ev), gate(ev, "D4"), tests(ev, "D4"))


def logged_in_clear(ev: Evidence) -> Finding:
    """Identifier and sensitive values in the prediction log are pseudonyms (no log yet:
    nothing to judge, neither credit nor blame)."""
    log = ev.report(PREDICTION_LOG)
    check = "identifiers pseudonymised in the prediction log"
    if not isinstance(log.data, dict):
        return Finding(1.0, PREDICTION_LOG, check, "no prediction log yet")
    clear = {column: n for column, n in log.data["clear"].items() if n}
    if clear:
        return Finding(0.0, log.path, check, f"values in the clear: {clear}", log.when)
    return Finding(1.0, log.path, check, f"{log.data['rows']} rows, none in the clear", log.when)


def d5(ev: Evidence) -> Finding:
    d = ev.declared
    return all_of(
        logged_in_clear(ev),
        declared("identifiers and sensitive", [*d.identifiers, *d.sensitive], "domain"),
        declared("retention_days", d.retention_days, "configs/serving.yaml retention_days"),
        champion_tags(ev, "lineage names the deletion list", ("data.deletions_sha256",)),
        tests(ev, "D5"),
    )


def m1(ev: Evidence) -> Finding:
    lineage = champion_tags(ev, "trained from a committed tree", ("git.commit", "git.dirty"))
    if ev.champion is not None and ev.champion.tags.get("git.dirty") != "False":
        lineage = replace(lineage, score=0.0)
    return all_of(
        lineage,
        file_exists(ev, ".github/workflows/ci.yml"),
        file_exists(ev, ".pre-commit-config.yaml"),
    )


def m3(ev: Evidence) -> Finding:
    search = present(ev, "reports/tuning.json", "hyperparameter search", "run `mlpipe tune`")
    champion = ev.champion
    chosen = missing("registry", "champion's params chosen by a search", ev.registry_note)
    if champion is not None:
        tags = champion.tags
        applied = tags.get("tuning.applied") == "true"
        where = f"registry: champion v{champion.version}"
        result = (
            f"v{champion.version} params from search {tags.get('tuning.search_id')}"
            if applied
            else f"v{champion.version} params not from a search (tuning.applied "
            f"{tags.get('tuning.applied')})"
        )
        chosen = Finding(float(applied), where, chosen.check, result, champion.when)
    d = ev.declared
    untuned = [
        name for name in d.model_params if name not in d.tuning_space and not UNTUNABLE.search(name)
    ]
    space = Finding(
        0.0 if untuned else 1.0,
        "params.yaml tuning.space",
        "every model parameter searched",
        f"never tuned: {untuned}" if untuned else f"searched: {list(d.tuning_space)}",
    )
    return all_of(search, chosen, space)


def m4(ev: Evidence) -> Finding:
    path = "reports/staleness.json"
    artifact = ev.report(path)
    study = missing(path, "staleness study yields a maximum age", "missing: run `make run`")
    if isinstance(artifact.data, dict):
        age = artifact.data.get("max_age")
        study = Finding(
            1.0 if isinstance(age, int | float) else 0.0,
            path,
            study.check,
            f"max_age {age} {artifact.data.get('unit', '')}".strip(),
            artifact.when,
        )
    return all_of(study, monitoring(ev, "M4", ("model staleness",), on_breach="ok"))


def i5(ev: Evidence) -> Finding:
    by_hand = file_exists(ev, "reports/explain/*.html", dated=True)
    if by_hand.score:
        by_hand = replace(by_hand, score=0.5, result=f"by hand: {by_hand.result}")
    return best_of(tests(ev, "I5"), by_hand)


def i6(ev: Evidence) -> Finding:
    review = ev.report("reports/promotion/review.json")
    reviewed = missing(review.path, "promotion review", "missing: run `mlpipe review`")
    if isinstance(review.data, dict):
        stats = review.data.get("stats") or {}
        compared = stats.get("requests_compared", 0)
        result = f"review: {review.data.get('decision')} ({compared} requests compared)"
        reviewed = Finding(1.0, review.path, reviewed.check, result, review.when)
    return all_of(tests(ev, "I6"), reviewed)


def i7(ev: Evidence) -> Finding:
    rollbacks = [event for event in ev.history if event.get("action") == "rollback"]
    by_hand = missing("registry audit history", "a rollback was recorded", "none")
    if rollbacks:
        last = rollbacks[-1]
        when = datetime.fromisoformat(last["when"])
        result = f"v{last.get('from_version')} -> v{last.get('to_version')} by {last.get('who')}"
        by_hand = Finding(0.5, by_hand.evidence, by_hand.check, result, when)
    return best_of(tests(ev, "I7"), by_hand)


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    judge: Callable[[Evidence], Finding]

    @property
    def section(self) -> str:
        return SECTIONS[self.id.rstrip("0123456789")]


def _gate(test_id: str) -> Callable[[Evidence], Finding]:
    return lambda ev: gate(ev, test_id)


def _tests(test_id: str) -> Callable[[Evidence], Finding]:
    return lambda ev: tests(ev, test_id)


def _monitor(test_id: str, *names: str, on_breach: str = "alert") -> Callable[..., Finding]:
    return lambda ev: monitoring(ev, test_id, names, on_breach)


RULES: tuple[Rule, ...] = (
    Rule("D1", "Feature expectations are captured in a schema", d1),
    Rule("D2", "All features are beneficial", d2),
    Rule("D3", "No feature's cost is too much", d3),
    Rule("D4", "Features adhere to meta-level requirements", d4),
    Rule("D5", "The data pipeline has appropriate privacy controls", d5),
    Rule("D6", "New features can be added quickly", _tests("D6")),
    Rule("D7", "All input feature code is tested", _tests("D7")),
    Rule("M1", "Model specs are reviewed and submitted", m1),
    Rule(
        "M2",
        "Offline and online metrics correlate",
        _monitor("M2", "served quality", on_breach="fail"),
    ),
    Rule("M3", "All hyperparameters have been tuned", m3),
    Rule("M4", "The impact of model staleness is known", m4),
    Rule("M5", "A simpler model is not better", _gate("M5")),
    Rule("M6", "Model quality is sufficient on all important data slices", _gate("M6")),
    Rule("M7", "The model has been tested for considerations of inclusion", _gate("M7")),
    Rule("I1", "Training is reproducible", _tests("I1")),
    Rule("I2", "Model specs are unit tested", _tests("I2")),
    Rule("I3", "The full ML pipeline is integration tested", _tests("I3")),
    Rule("I4", "Model quality is validated before serving", _gate("I4")),
    Rule("I5", "The model is debuggable", i5),
    Rule("I6", "Models are canaried before serving", i6),
    Rule("I7", "Serving models can be rolled back", i7),
    Rule("Mo1", "Dependency changes result in notification", _monitor("Mo1", "dependency changes")),
    Rule(
        "Mo2",
        "Data invariants hold in training and serving inputs",
        _monitor("Mo2", "data invariants"),
    ),
    Rule(
        "Mo3",
        "Training and serving features compute the same values",
        _monitor("Mo3", "training/serving skew"),
    ),
    Rule("Mo4", "Models are not too stale", _monitor("Mo4", "model staleness")),
    Rule("Mo5", "The model is numerically stable", _monitor("Mo5", "numerical stability")),
    Rule(
        "Mo6", "Computing performance has not regressed", _monitor("Mo6", "computing performance")
    ),
    Rule(
        "Mo7",
        "Prediction quality has not regressed on served data",
        _monitor("Mo7", "served quality"),
    ),
)


# --- the score ----------------------------------------------------------------------


@dataclass(frozen=True)
class Scored:
    rule: Rule
    finding: Finding

    def to_dict(self) -> dict[str, Any]:
        f = self.finding
        return {
            "id": self.rule.id,
            "section": self.rule.section,
            "name": self.rule.name,
            "score": f.score,
            "evidence": f.evidence,
            "check": f.check,
            "result": f.result,
            "when": f.when.isoformat(timespec="seconds") if f.when else None,
        }


@dataclass(frozen=True)
class Score:
    tests: tuple[Scored, ...]
    floor: float

    @property
    def sections(self) -> dict[str, float]:
        sums = dict.fromkeys(SECTIONS.values(), 0.0)
        for scored in self.tests:
            sums[scored.rule.section] += scored.finding.score
        return sums

    @property
    def final(self) -> float:
        return min(self.sections.values())

    @property
    def passed(self) -> bool:
        return self.final >= self.floor

    def to_dict(self) -> dict[str, Any]:
        return {
            "final": self.final,
            "floor": self.floor,
            "passed": self.passed,
            "sections": self.sections,
            "tests": [scored.to_dict() for scored in self.tests],
        }


def score(evidence: Evidence, floor: float, rules: tuple[Rule, ...] = RULES) -> Score:
    """Every rule judged on the evidence, stale or undated credit withdrawn."""
    judged = tuple(Scored(rule, fresh(rule.judge(evidence), evidence)) for rule in rules)
    return Score(judged, floor)


def checklist_ids(text: str) -> tuple[str, ...]:
    """The checklist ids named in a text ("Mo7/M2" -> ("Mo7", "M2"))."""
    return tuple(_TEST_ID.findall(text))
