"""A Prefect API for one command: a temporary server that this process starts, owns and
stops, and that dies with it whatever kills it.

Prefect's own temporary server outlives a ``kill -9`` of its parent (it keeps listening,
orphaned); this one is started with the kernel's parent-death signal (Linux
``PR_SET_PDEATHSIG``), and stopped at exit otherwise. It starts without importing Prefect,
so it boots while the command loads the project and imports the flow: its start-up is off
the critical path. With ``PREFECT_API_URL`` set (a Prefect server of your own, or Prefect
Cloud), nothing is started and flow runs go there."""

from __future__ import annotations

import atexit
import ctypes
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

from mlpipe.core.errors import PipelineError

# the setting Prefect reads for its own temporary server, honoured here too
TIMEOUT_SETTING = "server.ephemeral.startup_timeout_seconds"
TIMEOUT_VARIABLE = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"
DEFAULT_TIMEOUT_SECONDS = 120.0
PR_SET_PDEATHSIG = 1
LOG_NAME = "prefect-server.log"


class ServerTimeout(PipelineError):
    """The temporary Prefect server did not answer in time."""


def startup_timeout(root: Path) -> float:
    """Seconds to wait for the server: $PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
    else ``server.ephemeral.startup_timeout_seconds`` under [tool.prefect] in the project's
    pyproject.toml (read from the project root, wherever mlpipe runs), else 120 s."""
    value: object = os.environ.get(TIMEOUT_VARIABLE)
    where = TIMEOUT_VARIABLE
    pyproject = root / "pyproject.toml"
    if value is None and pyproject.is_file():
        with pyproject.open("rb") as handle:
            section: object = tomllib.load(handle).get("tool", {}).get("prefect", {})
        for key in TIMEOUT_SETTING.split("."):
            section = section.get(key) if isinstance(section, dict) else None
        value, where = section, f"{pyproject} [tool.prefect] {TIMEOUT_SETTING}"
    if value is None:
        return DEFAULT_TIMEOUT_SECONDS
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        seconds = -1.0
    if seconds <= 0:
        from mlpipe.core.errors import ConfigError

        raise ConfigError(f"{where} = {value!r}: expected a positive number of seconds")
    return seconds


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:
    """In the child, before exec: ask the kernel for SIGTERM when the parent dies (Linux);
    elsewhere the server is stopped at exit only."""
    parent = os.getppid()
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (AttributeError, OSError):
        return
    prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def _prefect_dir() -> str:
    spec = importlib.util.find_spec("prefect")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("No module named 'prefect'")
    return str(Path(next(iter(spec.submodule_search_locations))).parent)


class TemporaryServer:
    """``uvicorn prefect.server.api.server:create_app`` on a free port of 127.0.0.1, as
    Prefect runs its own temporary server, but a child that cannot outlive this process."""

    def __init__(self, root: Path, state: Path) -> None:
        self.root = root
        self.log = state / LOG_NAME
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._launch()
        atexit.register(self.stop)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def _launch(self) -> None:
        self.port = _free_port()
        # before Prefect is imported (it reads its settings once): flow runs go here
        os.environ["PREFECT_API_URL"] = self.api_url
        # it serves no UI: no "View at http://..." link to a page that does not exist
        os.environ.setdefault("PREFECT_UI_URL", "")
        self.log.parent.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "PREFECT_UI_ENABLED": "0",
            "PREFECT__SERVER_EPHEMERAL": "1",
            "PREFECT__SERVER_FINAL": "1",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }
        env.pop("PREFECT_API_URL")
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    *(sys.executable, "-m", "uvicorn", "--app-dir", _prefect_dir()),
                    *("--factory", "prefect.server.api.server:create_app"),
                    *("--host", "127.0.0.1", "--port", str(self.port)),
                    *("--log-level", "error", "--lifespan", "on"),
                    *("--timeout-graceful-shutdown", "1"),
                ],
                cwd=self.root,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )

    def wait(self, timeout: float) -> str:
        """Block until the API answers; its URL."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process and self.process.poll() is None:
            try:
                with urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as response:
                    if response.status == 200:
                        return self.api_url
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        exited = self.process is None or self.process.poll() is not None
        self.stop()
        tail = self.log.read_text(errors="replace").strip().splitlines()[-3:]
        said = f" It said: {' | '.join(tail)}." if tail else ""
        raise ServerTimeout(
            f"the temporary Prefect server {'exited' if exited else 'did not answer'} within "
            f"{timeout:g} s (log: {self.log}).{said} The machine may be busy: retry, raise "
            f"{TIMEOUT_SETTING} under [tool.prefect] in pyproject.toml (or "
            f"${TIMEOUT_VARIABLE}), or run a Prefect "
            "server (`make prefect-up`) and export PREFECT_API_URL"
        )

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:  # the clients drained before this (atexit order); the store is SQLite's
            process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class PrefectApi:
    """The API flow runs go to: $PREFECT_API_URL when set, else a temporary server started
    now (call ``url()`` when the flow is about to run; it waits for the server then)."""

    def __init__(self, root: Path, state: Path) -> None:
        self.root = root
        self.server = None if os.environ.get("PREFECT_API_URL") else TemporaryServer(root, state)

    def url(self) -> str | None:
        if self.server is None:
            return None
        return self.server.wait(startup_timeout(self.root))

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
