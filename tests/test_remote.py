"""Remote stores for teams: a DVC remote on an S3-compatible endpoint (moto's server on
127.0.0.1) survives push, a fresh clone and pull with identical hashes."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from mlpipe.core.io import file_md5
from tests.helpers import (
    BIN,
    free_port,
    project_env,
    run_cli,
    start_service,
    stop_service,
)

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("released")]

S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="module")
def s3_endpoint():
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = start_service(
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        url,
        dict(os.environ),
        healthy=False,
    )
    yield url
    stop_service(process)


def git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@e", *args],
        cwd=root,
        check=True,
        capture_output=True,
    )


def dvc(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**project_env(root), **S3_ENV}
    return subprocess.run(
        ["dvc", *args], cwd=root, env=env, capture_output=True, text=True, timeout=300
    )


def test_push_clone_pull_round_trip(s3_endpoint, released, tmp_path):
    import boto3

    boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        **{
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
            "region_name": "us-east-1",
        },
    ).create_bucket(Bucket="mlpipe")
    root = released  # the pipeline's results (conftest.released)
    assert dvc(root, "remote", "add", "-d", "storage", "s3://mlpipe/store").returncode == 0
    assert dvc(root, "remote", "modify", "storage", "endpointurl", s3_endpoint).returncode == 0
    git(root, "add", "-A")
    git(root, "commit", "-qm", "pipeline results")
    pushed = dvc(root, "push")
    assert pushed.returncode == 0, pushed.stderr[-2000:]

    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(root), str(clone))
    assert not (clone / "data" / "features" / "features.parquet").exists()
    pulled = dvc(clone, "pull")
    assert pulled.returncode == 0, pulled.stderr[-2000:]
    for relative in (
        "data/features/features.parquet",
        "models/model.joblib",
        "data/raw/visits.parquet",
    ):
        assert file_md5(clone / relative) == file_md5(root / relative)
    status = dvc(clone, "status")
    assert "up to date" in status.stdout, status.stdout
    repro = run_cli(clone, "dvc", "repro")
    assert repro.returncode == 0 and "Running stage" not in repro.stdout, repro.stdout
    assert (clone / "dvc.lock").read_text() == (root / "dvc.lock").read_text()
