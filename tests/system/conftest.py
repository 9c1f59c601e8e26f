"""Airflow's own processes on SQLite, and the Runware emulator, all on 127.0.0.1.

The ``airflow_stack`` fixture (one per test module) makes a fresh ``AIRFLOW_HOME``, migrates a
SQLite database, and starts the emulator (``python -m airflow_provider_wan.emulator``) and
``airflow api-server``, ``dag-processor``, ``scheduler`` (LocalExecutor) and ``triggerer``, each
in its own session so that it and every process it forks can be stopped. Everything is
configured through the environment of those processes (see :func:`airflow_environment`);
nothing of the pytest process's own Airflow configuration leaks into them.

A moto S3 server (``system_s3``, one per module, started before the stack) backs ``s3://``
destinations: the processes get an ``aws_default`` connection with its endpoint and dummy keys.
Its log holds the request line of every presigned PUT, so it is written outside
``AIRFLOW_HOME`` and left out of failure reports. The processes also get a Variable
``wan_webhook_token`` (a fresh random value per stack) for DAGs that send a webhook URL.

Each process writes its output to ``<AIRFLOW_HOME>/logs-of-processes/<name>.log`` (tasks and
triggers log to ``<AIRFLOW_HOME>/logs/`` as usual); when a test fails, the tail of every process
log and the emulator's stats are in the report, so CI shows why.

The executor is the LocalExecutor: Airflow 3 has no SequentialExecutor any more, and the
LocalExecutor runs on SQLite (no check refuses the pair). Task processes reach the API server's
execution API at ``[core] execution_api_server_url``; the tests use the public REST API
(``/api/v2``) as the SimpleAuthManager's admin, with a password from a passwords file.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psutil
import pytest

SYSTEM_DIR = Path(__file__).resolve().parent
REPO_ROOT = SYSTEM_DIR.parents[1]
DAGS_FOLDER = SYSTEM_DIR / "dags"
EMULATOR_API_KEY = "system-test-runware-key-5f3a"
ADMIN_USER = "admin"
ADMIN_PASSWORD = "system-test-admin-password"
AWS_ACCESS_KEY_ID = "AKIAWANSYSTEMTEST001"
AWS_SECRET_ACCESS_KEY = "system-test-aws-secret-access-key-8c1d"
AWS_REGION = "us-east-1"
WEBHOOK_TOKEN_VARIABLE = "wan_webhook_token"

# Generous bounds: a 2-core CI machine runs five Python servers and the tests at once.
STARTUP_TIMEOUT = 150.0
RUN_TIMEOUT = 120.0
STOP_TIMEOUT = 15.0
POLL_EVERY = 0.5

T = TypeVar("T")


def free_port() -> int:
    """A port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def airflow_command() -> list[str]:
    """The ``airflow`` command of this interpreter's environment."""
    script = Path(sys.executable).with_name("airflow")
    return [str(script)] if script.exists() else [sys.executable, "-m", "airflow"]


def _session_members(session: int) -> list[psutil.Process]:
    """Every live process of the session *session*.

    A process started with ``start_new_session`` leads a session that all it forks inherit,
    whether they stay its children or not: Airflow's supervisors put task and trigger processes
    in process groups of their own (so a process group does not reach them), and a killed
    supervisor leaves its child to init. Linux does not reuse the id of a session that still
    has members, so nothing else can be caught by mistake.
    """
    members = []
    for process in psutil.process_iter():
        try:
            if os.getsid(process.pid) == session:
                members.append(process)
        except (OSError, psutil.Error):
            continue
    return members


def _signal_all(processes: list[psutil.Process], sig: int) -> None:
    for process in processes:
        with contextlib.suppress(psutil.Error):
            process.send_signal(sig)


class Process:
    """One long-running process of the test, in its own session, its output in a log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.log_dir = log_dir
        self.popen: subprocess.Popen[bytes] | None = None
        self.log_path = log_dir / f"{name}.log"

    def start(self) -> Process:
        # A restarted process writes a new log, so both runs can be read after the test.
        n = 1
        while self.log_path.exists():
            n += 1
            self.log_path = self.log_dir / f"{self.name}-{n}.log"
        with self.log_path.open("wb") as log:
            self.popen = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.env.get("AIRFLOW_HOME"),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None, f"{self.name} was never started"
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def members(self) -> list[psutil.Process]:
        """This process and every process it started, however deep (see _session_members)."""
        return _session_members(self.popen.pid) if self.popen is not None else []

    def terminate(self) -> None:
        """Ask the process and everything it started to stop (SIGTERM)."""
        _signal_all(self.members(), signal.SIGTERM)

    def reap(self, deadline: float) -> None:
        """Wait for the whole session to exit until *deadline*, then SIGKILL what is left."""
        if self.popen is None:
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
        psutil.wait_procs(self.members(), timeout=max(0.1, deadline - time.monotonic()))
        self.kill()

    def kill(self) -> None:
        """SIGKILL the process and everything it started, at once; wait for them to go."""
        if self.popen is None:
            return
        members = self.members()
        _signal_all(members, signal.SIGKILL)
        psutil.wait_procs(members, timeout=10)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=10)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


class Emulator:
    """The Runware emulator in its own process, with its control endpoints."""

    def __init__(self, log_dir: Path, env: dict[str, str]) -> None:
        argv = [
            sys.executable,
            "-m",
            "airflow_provider_wan.emulator",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--api-key",
            EMULATOR_API_KEY,
            "--generation-time",
            "1.0",
            "--seed",
            "11",
        ]
        self.process = Process("emulator", argv, env, log_dir)
        self.base_url = ""
        self.root_url = ""

    def start(self) -> Emulator:
        self.process.start()
        pattern = re.compile(r"Runware emulator listening on (http://127\.0\.0\.1:\d+/v1)")
        found = wait_for(
            lambda: pattern.search(self.process.log_text()),
            timeout=60,
            what="the emulator to listen",
            diagnostics=self.process.tail,
            alive=[self.process],
        )
        self.base_url = found.group(1)
        self.root_url = self.base_url.removesuffix("/v1")
        return self

    def stats(self) -> dict[str, Any]:
        response = httpx.get(f"{self.root_url}/_emulator/stats", timeout=10)
        response.raise_for_status()
        return dict(response.json())

    def configure(self, **fields: Any) -> None:
        response = httpx.post(f"{self.root_url}/_emulator/config", json=fields, timeout=10)
        response.raise_for_status()

    def reset(self) -> None:
        response = httpx.post(
            f"{self.root_url}/_emulator/reset", json={"restore_config": True}, timeout=10
        )
        response.raise_for_status()


class S3Server:
    """moto's S3 API in its own process (and session) on 127.0.0.1, with dummy credentials.

    Its log is in *log_dir*, which must lie outside ``AIRFLOW_HOME``: moto logs the request
    line of every PUT, presigned query string and all.
    """

    access_key = AWS_ACCESS_KEY_ID
    secret_key = AWS_SECRET_ACCESS_KEY
    region = AWS_REGION

    def __init__(self, log_dir: Path, env: dict[str, str]) -> None:
        argv = [str(self.executable()), "-H", "127.0.0.1", "-p", "0"]
        self.process = Process("moto", argv, env, log_dir)
        self.endpoint = ""

    @staticmethod
    def executable() -> Path:
        return Path(sys.executable).with_name("moto_server")

    def start(self) -> S3Server:
        self.process.start()
        pattern = re.compile(r"Running on (http://127\.0\.0\.1:\d+)")
        found = wait_for(
            lambda: pattern.search(self.process.log_text()),
            timeout=60,
            what="moto to listen",
            diagnostics=lambda: f"moto's log: {self.process.log_path}",
            alive=[self.process],
        )
        self.endpoint = found.group(1)
        wait_for(
            lambda: httpx.get(f"{self.endpoint}/moto-api/", timeout=2).status_code < 500,
            timeout=30,
            what="moto to answer",
            alive=[self.process],
        )
        return self

    def stop(self) -> None:
        self.process.terminate()
        self.process.reap(time.monotonic() + STOP_TIMEOUT)

    def client(self) -> Any:
        """A boto3 S3 client of the test itself (setup and reading back)."""
        import boto3
        from botocore.config import Config

        return boto3.session.Session(
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
        ).client(
            "s3",
            endpoint_url=self.endpoint,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )

    def connection(self) -> dict[str, Any]:
        """The Airflow ``aws`` connection of the stack (what hooks/storage.py reads)."""
        return {
            "conn_type": "aws",
            "login": self.access_key,
            "password": self.secret_key,
            "extra": {"endpoint_url": self.endpoint, "region_name": self.region},
        }


def wait_for(
    condition: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    diagnostics: Callable[[], str] = lambda: "",
    alive: list[Process] = (),  # type: ignore[assignment]
    every: float = POLL_EVERY,
) -> T:
    """Call *condition* until it returns something truthy; fail with *diagnostics* after
    *timeout* seconds, or at once when one of the *alive* processes has died."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            result = condition()
        except (httpx.HTTPError, OSError, ValueError, KeyError) as error:
            last_error, result = error, None
        if result:
            return result
        dead = [p.name for p in alive if not p.alive]
        if dead or time.monotonic() > deadline:
            reason = f"{', '.join(dead)} exited" if dead else f"{timeout:.0f} s passed"
            detail = f" (last error: {last_error!r})" if last_error else ""
            pytest.fail(f"Waiting for {what}: {reason}{detail}\n{diagnostics()}", pytrace=False)
        time.sleep(every)


def log_events(path: Path) -> list[str]:
    """The messages (``event``) of a JSON-lines Airflow log file; [] when it does not exist."""
    events = []
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return []
    for line in lines:
        try:
            events.append(str(json.loads(line).get("event", "")))
        except (ValueError, AttributeError):
            events.append(line)
    return events


def base_environment() -> dict[str, str]:
    """This environment without any Airflow setting, the repository importable."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
    paths = [str(REPO_ROOT), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def airflow_environment(
    home: Path,
    api_port: int,
    emulator_url: str,
    *,
    s3: S3Server | None = None,
    webhook_token: str | None = None,
) -> dict[str, str]:
    """The environment of every Airflow process: SQLite, LocalExecutor, short intervals.

    The pytest process's own AIRFLOW_* settings (unit-test mode, its database, tests/dags)
    are dropped: these processes must behave like a deployment, not like a unit test. With
    *s3*, an ``aws_default`` connection to that server (and no other AWS credentials or
    configuration reach boto3); with *webhook_token*, the Variable ``wan_webhook_token``.
    """
    env = base_environment()
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps({ADMIN_USER: ADMIN_PASSWORD}))
    connection = {
        "conn_type": "runware",
        "host": emulator_url,
        "password": EMULATOR_API_KEY,
        "extra": {"max_retries": 6, "timeout": 10},
    }
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            # LocalExecutor is Airflow 3's default and the only local executor left (the
            # SequentialExecutor is gone); it runs on SQLite.
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "3",
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__FERNET_KEY": "",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            # The scheduler loop and the detection of a worker that died.
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "10",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "1",
            "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
            # A triggerer that stops heartbeating loses its triggers to another one after this.
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "6",
            # Parse the DAGs folder at once, with one parser process (two cores to share).
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "AIRFLOW__DAG_PROCESSOR__PRINT_STATS_INTERVAL": "300",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "AIRFLOW_CONN_RUNWARE_DEFAULT": json.dumps(connection),
        }
    )
    if s3 is not None:
        for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
            env.pop(name, None)
        env.update(
            {
                "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(s3.connection()),
                "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                "AWS_EC2_METADATA_DISABLED": "true",
            }
        )
    if webhook_token is not None:
        env[f"AIRFLOW_VAR_{WEBHOOK_TOKEN_VARIABLE.upper()}"] = webhook_token
    return env


class AirflowStack:
    """The running processes, and what the tests ask of them (REST API, logs, processes)."""

    def __init__(
        self,
        home: Path,
        s3: S3Server | None = None,
        overrides: dict[str, str] | None = None,
    ) -> None:
        self.home = home
        self.s3 = s3
        # Settings of the processes' environment that win over airflow_environment()'s (the
        # Airflow-level benchmark, bench/airflow_level.py, sets its own DAGs folder this way).
        self.overrides = dict(overrides or {})
        # A secret the DAGs reach only through a Variable (see the secret audit).
        self.webhook_token = f"whk-{secrets.token_hex(16)}"
        self.log_dir = home / "logs-of-processes"
        self.log_dir.mkdir()
        self.api_port = free_port()
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.emulator = Emulator(self.log_dir, base_environment())
        self.processes: dict[str, Process] = {}
        self.retired: list[Process] = []
        self.env: dict[str, str] = {}
        self._token = ""

    # --- starting and stopping ---------------------------------------------------------------

    def start(self) -> None:
        self.emulator.start()
        self.env = airflow_environment(
            self.home,
            self.api_port,
            self.emulator.base_url,
            s3=self.s3,
            webhook_token=self.webhook_token,
        )
        self.env.update(self.overrides)
        migrate_log = self.log_dir / "db-migrate.log"
        with migrate_log.open("wb") as log:
            result = subprocess.run(
                [*airflow_command(), "db", "migrate"],
                env=self.env,
                cwd=self.home,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=STARTUP_TIMEOUT,
                check=False,
            )
        if result.returncode:
            tail = "\n".join(migrate_log.read_text(errors="replace").splitlines()[-40:])
            pytest.fail(f"airflow db migrate failed ({result.returncode}):\n{tail}", pytrace=False)
        self.start_component("api-server", "--host", "127.0.0.1", "--port", str(self.api_port))
        self.start_component("dag-processor")
        self.start_component("scheduler", "--skip-serve-logs")
        self.start_component("triggerer", "--skip-serve-logs")
        wait_for(
            self._healthy,
            timeout=STARTUP_TIMEOUT,
            what="the API server, scheduler, triggerer and DAG processor to be healthy",
            diagnostics=self.diagnostics,
            alive=list(self.processes.values()),
            every=1.0,
        )

    def start_component(self, component: str, *args: str) -> Process:
        process = Process(component, [*airflow_command(), component, *args], self.env, self.log_dir)
        self.processes[component] = process.start()
        return process

    def restart_component(self, component: str, *args: str) -> Process:
        """Start *component* again (its old process must be gone); its log is a new file."""
        old = self.processes[component]
        assert not old.alive, f"{component} is still running"
        self.retired.append(old)
        process = Process(component, old.argv, self.env, self.log_dir)
        process.log_path = old.log_path
        self.processes[component] = process.start()
        return process

    def stop(self) -> None:
        """Stop every process (Airflow's first, the emulator last), SIGKILL what lingers."""
        airflow = [*reversed(self.processes.values()), *self.retired]
        for process in airflow:
            process.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT
        for process in airflow:
            process.reap(deadline)
        self.emulator.process.terminate()
        self.emulator.process.reap(time.monotonic() + STOP_TIMEOUT)

    def _healthy(self) -> bool:
        health = httpx.get(f"{self.api_url}/api/v2/monitor/health", timeout=5).json()
        components = ("metadatabase", "scheduler", "triggerer", "dag_processor")
        return all(health.get(name, {}).get("status") == "healthy" for name in components)

    # --- the REST API ---------------------------------------------------------------------------

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if not self._token:
            response = httpx.post(
                f"{self.api_url}/auth/token",
                json={"username": ADMIN_USER, "password": ADMIN_PASSWORD},
                timeout=10,
            )
            response.raise_for_status()
            self._token = response.json()["access_token"]
        headers = {"Authorization": f"Bearer {self._token}"}
        return httpx.request(method, f"{self.api_url}{path}", headers=headers, timeout=15, **kwargs)

    def get(self, path: str, **params: Any) -> Any:
        response = self.api("GET", path, params=params)
        response.raise_for_status()
        return response.json()

    def wait_for_dags(self, *dag_ids: str) -> None:
        """Wait until the DAG processor has stored every DAG (and failed on none)."""

        def parsed() -> bool:
            errors = self.get("/api/v2/importErrors")
            if errors["total_entries"]:
                pytest.fail(f"DAG import errors: {errors['import_errors']}", pytrace=False)
            return all(self.api("GET", f"/api/v2/dags/{d}").status_code == 200 for d in dag_ids)

        wait_for(
            parsed,
            timeout=STARTUP_TIMEOUT,
            what=f"the DAGs {dag_ids} to be parsed",
            diagnostics=self.diagnostics,
            alive=list(self.processes.values()),
        )

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        """Start a run of *dag_id* now (with *conf*); return its run id."""
        run_id = f"system__{dag_id}__{time.time_ns()}"
        body: dict[str, Any] = {"dag_run_id": run_id, "logical_date": None}
        if conf is not None:
            body["conf"] = conf
        response = self.api("POST", f"/api/v2/dags/{dag_id}/dagRuns", json=body)
        assert response.status_code in (200, 201), response.text
        return run_id

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return dict(self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}"))

    def task_instance(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
        return dict(self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"))

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        entry = self.get(
            f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}"
        )
        value = entry["value"]
        return json.loads(value) if isinstance(value, str) else value

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> list[str]:
        """The messages the worker logged for one try of a task (before and after a deferral)."""
        return log_events(self._task_log_dir(dag_id, run_id, task_id) / f"attempt={try_number}.log")

    def trigger_logs(
        self, dag_id: str, run_id: str, task_id: str, try_number: int
    ) -> dict[int, list[str]]:
        """The messages of the task's trigger, by the id of the triggerer job that ran it.

        Each triggerer writes the log of a trigger it runs beside the task's log, in
        ``attempt=N.log.trigger.<triggerer job id>.log``.
        """
        folder = self._task_log_dir(dag_id, run_id, task_id)
        logs = {}
        for path in folder.glob(f"attempt={try_number}.log.trigger.*.log"):
            logs[int(path.name.split(".")[-2])] = log_events(path)
        return logs

    def triggerer_jobs(self) -> dict[int, str]:
        """Triggerer job id -> its state, from the API."""
        jobs = self.get("/api/v2/jobs", job_type="TriggererJob", limit=100)["jobs"]
        return {job["id"]: job["state"] for job in jobs}

    def _task_log_dir(self, dag_id: str, run_id: str, task_id: str) -> Path:
        return self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = RUN_TIMEOUT) -> str:
        """Wait for the run to finish (success or failed); return its state."""

        def finished() -> str | None:
            state = self.dag_run(dag_id, run_id)["state"]
            return state if state in ("success", "failed") else None

        return wait_for(
            finished,
            timeout=timeout,
            what=f"run {run_id} of {dag_id} to finish",
            diagnostics=self.diagnostics,
            alive=list(self.processes.values()),
        )

    def wait_during_run(
        self,
        dag_id: str,
        run_id: str,
        condition: Callable[[], T | None],
        *,
        what: str,
        timeout: float = RUN_TIMEOUT,
    ) -> T:
        """Wait for *condition* while the run is still going; fail at once if it finishes."""

        def check() -> T | None:
            result = condition()
            if result:
                return result
            state = self.dag_run(dag_id, run_id)["state"]
            if state in ("success", "failed"):
                pytest.fail(
                    f"Run {run_id} of {dag_id} ended ({state}) before {what}\n{self.diagnostics()}",
                    pytrace=False,
                )
            return None

        return wait_for(
            check,
            timeout=timeout,
            what=what,
            diagnostics=self.diagnostics,
            alive=list(self.processes.values()),
        )

    # --- diagnostics -------------------------------------------------------------------------

    def diagnostics(self, lines: int = 40) -> str:
        parts = [f"AIRFLOW_HOME {self.home} (full logs in {self.log_dir} and {self.home / 'logs'})"]
        if self.s3 is not None:
            # Not its tail: moto logs presigned URLs.
            state = "running" if self.s3.process.alive else "exited"
            parts.append(f"moto {self.s3.endpoint} ({state}), log in {self.s3.process.log_path}")
        try:
            parts.append(f"emulator stats: {json.dumps(self.emulator.stats())}")
        except (httpx.HTTPError, ValueError) as error:
            parts.append(f"emulator stats unavailable: {error!r}")
        everything = [*self.retired, *self.processes.values(), self.emulator.process]
        for process in everything:
            state = (
                "running" if process.alive else f"exited {process.popen and process.popen.poll()}"
            )
            parts.append(
                f"----- {process.log_path.name} ({state}), last {lines} lines -----\n"
                f"{process.tail(lines)}"
            )
        return "\n".join(parts)


@pytest.fixture(scope="module")
def system_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server | None]:
    """moto for the module's stack, started before it (None when moto is not installed)."""
    if not S3Server.executable().exists():
        yield None
        return
    # A folder of its own, outside any AIRFLOW_HOME: moto logs presigned URLs.
    server = S3Server(tmp_path_factory.mktemp("moto-system"), base_environment())
    atexit.register(server.stop)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        atexit.unregister(server.stop)


@pytest.fixture(scope="module")
def airflow_stack(
    tmp_path_factory: pytest.TempPathFactory, system_s3: S3Server | None
) -> Iterator[AirflowStack]:
    """Airflow's processes and the emulator, started once for a module and always stopped."""
    stack = AirflowStack(tmp_path_factory.mktemp("airflow-system"), s3=system_s3)
    # Also stop them if the test session ends without running the finalizer below.
    atexit.register(stack.stop)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
        atexit.unregister(stack.stop)


@pytest.fixture
def system(airflow_stack: AirflowStack) -> AirflowStack:
    """The stack, with an emulator that has seen nothing yet."""
    airflow_stack.emulator.reset()
    return airflow_stack


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A failed test shows the emulator's stats and the tail of every process's log."""
    report = yield
    stack = getattr(item, "funcargs", {}).get("airflow_stack")
    failed = report.when == "call" and report.failed
    # A wait_for() failure has them in its message already.
    if failed and isinstance(stack, AirflowStack) and "----- " not in str(report.longrepr):
        report.sections.append(("airflow processes", stack.diagnostics(lines=80)))
    return report
