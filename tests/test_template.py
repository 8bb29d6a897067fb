"""The copier template (copier.yml, template/, starters/): generated projects run, the
rendered files cannot drift from this repository's, and `copier update` brings a later
template version into an edited project.

Each test copies this working tree into a throw-away git repository (the template as a
user would fetch it) and generates projects from it with the copier of this
environment. Generated projects reuse this repository's .venv (its bin on PATH, the
project as the working directory): Project.load imports the user's package from the
project folder."""

from __future__ import annotations

import filecmp
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import OUTPUTS, project_env

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# copier commits in scratch repositories: an identity even where git has none configured
IDENTITY = {
    f"GIT_{who}_{what}": value
    for who in ("AUTHOR", "COMMITTER")
    for what, value in (("NAME", "test"), ("EMAIL", "test@localhost"))
}
GIT = ["git", "-c", "init.defaultBranch=main"]

# files of this repository that a generated project does not receive (besides README.md,
# which every project gets its own of): the template machinery and what tests it
NOT_SHIPPED = ("README.md", "copier.yml", "benchmarks/template.py", "tests/test_template.py")
NOT_SHIPPED_DIRS = ("template/", "starters/")

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("template")]


def run(args: list[str], cwd: Path, timeout: float = 600) -> str:
    """A command of a generated project, with this environment's bin first on PATH."""
    env = {**project_env(cwd), **IDENTITY}
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def working_tree_files(root: Path = ROOT) -> list[str]:
    """Tracked and new (not ignored) files of the working tree, deleted ones and the
    outputs of a pipeline run in it left out."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    return sorted(
        p
        for p in listed
        if p and ((root / p).exists() or (root / p).is_symlink()) and not p.startswith(OUTPUTS)
    )


def template_repo(dest: Path, tag: str = "v1") -> Path:
    """This working tree as a git repository tagged ``tag``: what `copier copy` fetches."""
    for relative in working_tree_files():
        source, target = ROOT / relative, dest / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, target)
    commit(dest, "template", tag)
    return dest


def commit(repo: Path, message: str, tag: str | None = None) -> None:
    if not (repo / ".git").exists():
        run([*GIT, "init", "-q"], repo)
    run([*GIT, "add", "-A"], repo)
    run([*GIT, "commit", "-qm", message, "--allow-empty"], repo)
    if tag:
        run([*GIT, "tag", tag], repo)


def generate(template: Path, dest: Path, *answers: str, ref: str | None = None) -> Path:
    """`copier copy --defaults` with ``key=value`` answers, then a first commit."""
    data = [arg for answer in answers for arg in ("--data", answer)]
    version = ["--vcs-ref", ref] if ref else []
    run(
        [
            str(BIN / "copier"),
            "copy",
            "--defaults",
            "--quiet",
            *version,
            *data,
            str(template),
            str(dest),
        ],
        ROOT,
    )
    commit(dest, "generated")
    return dest


def rendered_files(project: Path) -> set[str]:
    return {
        str(path.relative_to(project))
        for path in project.rglob("*")
        if path.is_file() and ".git" not in path.relative_to(project).parts
    }


def pytest_in(project: Path, *args: str) -> str:
    return run(
        [str(BIN / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", *args], project
    )


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return template_repo(tmp_path_factory.mktemp("template"))


def test_default_answers_render_this_repository(template: Path, tmp_path: Path) -> None:
    """Rendered with the default answers (the flights start, into a folder named like
    this project), every file is byte-identical to this repository's, and every file of
    this repository is shipped except the template machinery."""
    project = generate(template, tmp_path / "mlpipe")
    rendered = rendered_files(project) - {".copier-answers.yml", "README.md"}
    different = [
        name
        for name in sorted(rendered)
        if not filecmp.cmp(project / name, template / name, shallow=False)
    ]
    assert not different, f"rendered files differ from the repository's: {different}"
    expected = {
        name
        for name in working_tree_files(template)
        if name not in NOT_SHIPPED and not name.startswith(NOT_SHIPPED_DIRS)
    }
    assert sorted(expected - rendered) == [], "files of the repository the template misses"
    assert sorted(rendered - expected) == [], "files the template renders from nowhere"
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["start"] == "flights" and answers["package"] == "flights"
    assert answers["_commit"] == "v1"


def test_flights_start_renames_everything(template: Path, tmp_path: Path) -> None:
    """A new package name, model and experiment: the package directory is the only
    thing renamed in code; the names land in params, configs, pyproject, uv.lock and the
    README; the package's own unit tests pass under its new name."""
    project = generate(
        template,
        tmp_path / "delays",
        "project_name=Delay Watch",
        "package=delays",
        "model_name=delay-model",
        "experiment_name=delay-exp",
    )
    assert not (project / "flights").exists()
    package = filecmp.dircmp(project / "delays", template / "flights", ignore=["__pycache__"])
    assert not package.diff_files and not package.left_only and not package.right_only
    params = yaml.safe_load((project / "params.yaml").read_text())
    assert params["domain"]["package"] == "delays"
    registry = yaml.safe_load((project / "configs" / "registry.yaml").read_text())
    tracking = yaml.safe_load((project / "configs" / "tracking.yaml").read_text())
    assert registry["model_name"] == "delay-model" and tracking["experiment"] == "delay-exp"
    pyproject = (project / "pyproject.toml").read_text()
    assert 'name = "delay-watch"' in pyproject and '"tests", "delays"' in pyproject
    lock = (project / "uv.lock").read_text()
    assert '\nname = "delay-watch"\nversion = "0.1.0"\nsource = { editable = "." }' in lock
    readme = (project / "README.md").read_text()
    assert readme.startswith("# Delay Watch\n") and "make run" in readme and "make test" in readme
    # the fast unit tests of the package (the pipeline run on a sample is left out)
    pytest_in(project, "delays/tests/test_features.py", "delays/tests/test_model.py")


def test_another_python_gets_no_lock(template: Path, tmp_path: Path) -> None:
    """uv.lock pins Python 3.11; a project for 3.12 gets none (uv resolves one at its
    first `make install`) and its pyproject and ruff say 3.12."""
    project = generate(template, tmp_path / "newer", "python_version=3.12")
    pyproject = (project / "pyproject.toml").read_text()
    assert 'requires-python = ">=3.12,<3.13"' in pyproject
    assert 'target-version = "py312"' in pyproject
    assert not (project / "uv.lock").exists()
    assert "Python 3.12" in (project / "README.md").read_text()


def test_table_start_runs_end_to_end(template: Path, tmp_path: Path) -> None:
    """The table starter on the penguins: its package's tests, then `mlpipe run` (the
    Prefect flow) registers a champion. With its suites
    gone, the validate step names the command that drafts them."""
    project = generate(template, tmp_path / "birds", "start=table", "package=birds")
    penguins = importlib.util.find_spec("palmerpenguins")
    assert penguins is not None and penguins.submodule_search_locations
    published = Path(next(iter(penguins.submodule_search_locations))) / "data" / "penguins.csv"
    shipped = project / "data" / "source" / "penguins.csv"
    assert filecmp.cmp(shipped, published, shallow=False), "not the palmerpenguins table"
    assert not (project / "benchmarks").exists()
    for name in ("__init__.py", "source.py", "prepare.py", "features.py", "model.py"):
        text = (project / "birds" / name).read_text()
        assert "{{" not in text and "{%" not in text
    pytest_in(project, "birds/tests")
    run([str(BIN / "mlpipe"), "run"], project)
    registration = json.loads((project / "reports" / "registration.json").read_text())
    assert str(registration["version"]) == "1" and registration["alias"] == "champion"
    shutil.rmtree(project / "configs" / "expectations")
    failed = subprocess.run(
        [str(BIN / "mlpipe"), "stage", "validate", "raw"],
        cwd=project,
        env=project_env(project),
        capture_output=True,
        text=True,
    )
    assert failed.returncode == 2  # a ConfigError: setup to do, not a crash
    assert "mlpipe expectations draft raw" in failed.stderr


def test_update_brings_template_changes_and_keeps_edits(tmp_path: Path) -> None:
    """A project from v1, edited by its owner; the template changes and is tagged v2;
    `copier update` brings v2's change and keeps the owner's edit, without conflicts."""
    template = template_repo(tmp_path / "template", "v1")
    project = generate(template, tmp_path / "mine", "start=table", "package=mine")
    params = project / "params.yaml"
    params.write_text(params.read_text().replace("max_iter: 100", "max_iter: 150"))
    commit(project, "owner: more trees")
    gate = template / "starters" / "table" / "configs" / "gate.yaml"
    gate.write_text(gate.read_text().replace("  roc_auc: 0.7\n", "  roc_auc: 0.72\n"))
    commit(template, "template: a stricter floor", "v2")
    run([str(BIN / "copier"), "update", "--defaults", "--quiet"], project)
    assert "max_iter: 150" in params.read_text(), "the owner's edit was lost"
    assert "  roc_auc: 0.72\n" in (project / "configs" / "gate.yaml").read_text()
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["_commit"] == "v2"
    assert run(["git", "diff", "--name-only", "--diff-filter=U"], project).strip() == ""
    assert "<<<<<<<" not in params.read_text()


def test_ci_workflow_passes_actionlint_and_posts_the_model_diff() -> None:
    """The generated project's CI workflow, checked by actionlint (shipped in a wheel):
    it runs .ci/run with uv's downloads cached, and posts `mlpipe diff` on pull requests,
    whose template asks the model-review questions."""
    run([str(BIN / "actionlint"), "-no-color", ".github/workflows/ci.yml"], ROOT)
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    steps = [step for job in workflow["jobs"].values() for step in job["steps"]]
    commands = "\n".join(step.get("run", "") for step in steps)
    assert "bash .ci/run" in commands and "mlpipe diff" in commands
    assert any(step.get("uses", "").startswith("actions/cache") for step in steps)
    questions = (ROOT / ".github" / "pull_request_template.md").read_text()
    for topic in ("Params", "Features", "Metrics", "Slices", "mlpipe diff"):
        assert topic in questions
