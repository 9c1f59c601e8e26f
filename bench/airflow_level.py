"""One campaign of 1,000 images on Airflow's own scheduler, triggerer and LocalExecutor.

``python -m bench.airflow_level`` (about 2.5 minutes on 2 cores) starts the processes of the
system tests (``tests/system/conftest.py``: API server, DAG processor, scheduler with the
LocalExecutor, triggerer, on SQLite, and the Runware emulator, all on 127.0.0.1) with a DAGs
folder made for the run: one campaign file of N items (a generated CSV), ``chunk_size`` items
per chunk, deferrable, images pulled to a ``file://`` folder. It triggers one run and measures:

- **task instances**: every task instance of the run, and the tries they took (REST API);
- **triggers**: the distinct trigger ids seen on the run's deferred task instances (REST API,
  sampled every second while the run is going), and the trigger log files the triggerer wrote
  (one per trigger and triggerer job);
- **task processes**: the distinct ``airflow worker -- <ti id>`` processes seen (one per
  execution of a task instance: a deferred task runs once before and once after its trigger);
- **worker CPU seconds**: the CPU (user + system) of everything the scheduler's LocalExecutor
  started: for every process of the scheduler's session, its own CPU plus that of its children
  it has waited for (``/proc/<pid>/stat`` cutime/cstime), minus the scheduler's own CPU, taken
  just before the run is triggered and after it ended. A task process is waited for by its
  worker, a worker (if it exits) by the scheduler, so every finished process is counted
  exactly once and nothing depends on the sampling rate; processes that would leave the tree
  (re-parented to init) are detected by the sampler and reported;
- **triggerer memory**: the RSS of the triggerer and its trigger runner process, summed, sampled
  every 0.25 s (peak and before the run), and each process's kernel high-water mark (VmHWM);
- **last image ready -> run success**: the emulator's ``/_emulator/stats`` is polled every
  0.1 s; the moment ``images_generated`` reached its final value is the last image's
  completion (to within the poll period); the run's end is the DAG run's ``end_date``.

It also reports the CPU of the other processes during the run, the emulator's request counts,
and the run's timeline. The results are printed (Markdown) and written to
``bench/results/airflow_level.json``; docs/benchmarks.md has the method and the numbers.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import csv
import json
import math
import os
import platform
import re
import shutil
import sys
import tempfile
import textwrap
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import psutil

from tests.system.conftest import AirflowStack, Process

DAG_ID = "wan_bench_airflow_level"
RESULTS = Path(__file__).resolve().parent / "results" / "airflow_level.json"
TASK_PROCESS = re.compile(r"^airflow worker -- (?!LocalExecutor)(\S+)$")


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _title(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline()).strip()
    except psutil.Error:
        return ""


# --- the DAGs folder --------------------------------------------------------------------------


def write_dags_folder(root: Path, args: argparse.Namespace) -> tuple[Path, Path]:
    """The DAGs folder of the run (a loader and one campaign) and the images' folder."""
    dags = root / "dags"
    campaigns = dags / "campaigns"
    campaigns.mkdir(parents=True)
    out = root / "images"
    out.mkdir()
    with (campaigns / "items.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sku", "name", "color"])
        colors = ("red", "teal", "ochre", "slate", "ivory")
        for n in range(args.items):
            writer.writerow([f"sku-{n:05d}", f"kettle model {n}", colors[n % len(colors)]])
    campaign = {
        "name": DAG_ID,
        "description": f"Airflow-level benchmark: {args.items} images",
        "generation": {"size": "square", "output_format": "JPG"},
        "prompt": "Product photo of the {{ name }} in {{ color }}, light grey background.",
        "items": {"key": "sku", "source": "items.csv"},
        "chunk_size": args.chunk_size,
        "max_active_chunks": args.max_active_chunks,
        "retries": 0,
        "deferrable": True,
        "destination": f"file://{out}/{{item_key}}-{{index}}.{{ext}}",
        "budget": {"limit_usd": round(args.items * 0.03 * 2, 2)},
    }
    # JSON is YAML.
    (campaigns / f"{DAG_ID}.yaml").write_text(json.dumps(campaign, indent=2) + "\n")
    (dags / "wan_bench_campaigns.py").write_text(
        textwrap.dedent(
            '''\
            """Airflow DAG loader of the benchmark's campaign (airflow, dag)."""

            from pathlib import Path

            from airflow_provider_wan.campaigns import register_campaigns

            register_campaigns(Path(__file__).parent / "campaigns", globals())
            '''
        )
    )
    return dags, out


# --- process measurements ---------------------------------------------------------------------


def tree_cpu(process: Process) -> tuple[float, float]:
    """(CPU of the session: own + waited-for children of every live member, the leader's own).

    A finished process's CPU is in its parent's cutime/cstime once the parent has waited for
    it, and a live process's only in itself: the sum counts each process once.
    """
    total = leader = 0.0
    for member in process.members():
        try:
            times = member.cpu_times()
        except psutil.Error:
            continue
        own = times.user + times.system
        total += own + times.children_user + times.children_system
        if member.pid == process.pid:
            leader = own
    return total, leader


def vm_hwm_mib(pid: int) -> float | None:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    found = re.search(r"^VmHWM:\s+(\d+) kB", text, re.MULTILINE)
    return int(found.group(1)) / 1024 if found else None


class Sampler:
    """Threads that watch the emulator, the processes and the run while it goes."""

    def __init__(self, stack: AirflowStack, run_id: str | None = None) -> None:
        self.stack = stack
        self.run_id = run_id
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        # Emulator: (wall time, images_generated) at each change.
        self.image_changes: list[tuple[datetime, int]] = []
        self.stats_polls = 0
        # Triggerer memory.
        self.triggerer_rss_peak = 0.0
        self.triggerer_rss_samples: list[float] = []
        self.triggerer_processes: dict[int, str] = {}
        # The scheduler's tree.
        self.task_processes: dict[int, str] = {}
        self.task_process_cpu: dict[int, float] = {}
        self.orphans: dict[int, str] = {}
        self.max_live_task_processes = 0
        self.process_samples = 0
        # The run's task instances.
        self.trigger_ids: dict[int, str] = {}
        self.max_deferred = 0
        self.max_running = 0
        self.threads = [
            threading.Thread(target=self._loop, args=(self._emulator, 0.1), daemon=True),
            threading.Thread(target=self._loop, args=(self._processes, 0.25), daemon=True),
            threading.Thread(target=self._loop, args=(self._task_instances, 1.0), daemon=True),
        ]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout=10)

    def _loop(self, step: Any, every: float) -> None:
        while not self.stop_event.is_set():
            began = time.monotonic()
            with contextlib.suppress(httpx.HTTPError, OSError, ValueError, KeyError, psutil.Error):
                step()
            self.stop_event.wait(max(0.0, every - (time.monotonic() - began)))

    def _emulator(self) -> None:
        images = int(self.stack.emulator.stats()["images_generated"])
        seen = _now()
        with self.lock:
            self.stats_polls += 1
            if not self.image_changes or self.image_changes[-1][1] != images:
                self.image_changes.append((seen, images))

    def _processes(self) -> None:
        rss = 0.0
        for member in self.stack.processes["triggerer"].members():
            try:
                rss += member.memory_info().rss / 2**20
                self.triggerer_processes.setdefault(member.pid, _title(member))
            except psutil.Error:
                continue
        scheduler = self.stack.processes["scheduler"]
        members = scheduler.members()
        pids = {member.pid for member in members}
        live = 0
        for member in members:
            title = _title(member)
            try:
                if member.pid != scheduler.pid and member.ppid() not in pids:
                    self.orphans.setdefault(member.pid, title)
                found = TASK_PROCESS.match(title)
                if found:
                    live += 1
                    self.task_processes.setdefault(member.pid, found.group(1))
                    times = member.cpu_times()
                    self.task_process_cpu[member.pid] = times.user + times.system
            except psutil.Error:
                continue
        with self.lock:
            self.process_samples += 1
            self.triggerer_rss_samples.append(rss)
            self.triggerer_rss_peak = max(self.triggerer_rss_peak, rss)
            self.max_live_task_processes = max(self.max_live_task_processes, live)

    def _task_instances(self) -> None:
        if self.run_id is None:
            return
        tis = self.stack.get(
            f"/api/v2/dags/{DAG_ID}/dagRuns/{self.run_id}/taskInstances", limit=1000
        )["task_instances"]
        deferred = running = 0
        for ti in tis:
            deferred += ti["state"] == "deferred"
            running += ti["state"] == "running"
            trigger = ti.get("trigger")
            if trigger:
                with self.lock:
                    self.trigger_ids.setdefault(
                        int(trigger["id"]), f"{ti['task_id']}[{ti['map_index']}]"
                    )
        with self.lock:
            self.max_deferred = max(self.max_deferred, deferred)
            self.max_running = max(self.max_running, running)


# --- the run ----------------------------------------------------------------------------------


def measure(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    dags, out = write_dags_folder(root, args)
    home = root / "home"
    home.mkdir()
    overrides = {
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__PARALLELISM": str(args.parallelism),
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(max(16, args.max_active_chunks + 2)),
    }
    stack = AirflowStack(home, overrides=overrides)
    atexit.register(stack.stop)
    try:
        print(f"starting Airflow in {home} ...", file=sys.stderr)
        stack.start()
        stack.wait_for_dags(DAG_ID)
        stack.emulator.reset()
        stack.emulator.configure(
            generation_time=args.generation_time,
            generation_jitter=args.jitter,
            max_concurrent=args.capacity,
        )
        # The DAG processor has parsed the file; let the stack settle before the baseline.
        time.sleep(3)
        sampler = Sampler(stack)
        sampler.start()
        time.sleep(1)
        names = ("scheduler", "triggerer", "api-server", "dag-processor")
        cpu_before = {name: tree_cpu(stack.processes[name]) for name in names}
        cpu_before["emulator"] = tree_cpu(stack.emulator.process)
        triggerer_rss_before = sampler.triggerer_rss_samples[-1]
        load_before = os.getloadavg()
        triggered_at = _now()
        run_id = stack.trigger(DAG_ID)
        sampler.run_id = run_id
        print(f"run {run_id} triggered at {triggered_at:%H:%M:%S}", file=sys.stderr)
        state = stack.wait_for_run(DAG_ID, run_id, timeout=args.timeout)
        # Let the sampler see the last task processes leave.
        time.sleep(2)
        sampler.stop()
        load_after = os.getloadavg()
        cpu_after = {name: tree_cpu(stack.processes[name]) for name in names}
        cpu_after["emulator"] = tree_cpu(stack.emulator.process)
        hwm = {
            f"{pid} {title}": vm_hwm_mib(pid) for pid, title in sampler.triggerer_processes.items()
        }

        run = stack.dag_run(DAG_ID, run_id)
        tis = stack.get(f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances", limit=1000)
        stats = stack.emulator.stats()
        run_logs = home / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}"
        trigger_logs = sorted(p.name for p in run_logs.rglob("*.log.trigger.*.log"))
        stored = sum(1 for p in out.iterdir() if p.suffix == ".jpg")
    finally:
        stack.stop()
        atexit.unregister(stack.stop)
    leftovers = [p.pid for proc in [*stack.processes.values()] for p in proc.members()]

    # --- the figures ----------------------------------------------------------------------------
    task_instances = tis["task_instances"]
    by_task: dict[str, int] = {}
    for ti in task_instances:
        by_task[ti["task_id"]] = by_task.get(ti["task_id"], 0) + 1
    chunks = math.ceil(args.items / args.chunk_size)
    final_images = sampler.image_changes[-1][1] if sampler.image_changes else 0
    last_ready = next(t for t, n in sampler.image_changes if n == final_images)
    start = _parse_time(run["start_date"])
    end = _parse_time(run["end_date"])
    assert start is not None and end is not None, run
    ti_ends = {
        f"{ti['task_id']}[{ti['map_index']}]": _parse_time(ti["end_date"]) for ti in task_instances
    }
    generate_ends = [t for k, t in ti_ends.items() if k.startswith("generate[") and t]
    finish_end = ti_ends.get("finish[-1]")

    def delta(name: str) -> float:
        return round(cpu_after[name][0] - cpu_before[name][0], 2)

    worker_cpu = (cpu_after["scheduler"][0] - cpu_before["scheduler"][0]) - (
        cpu_after["scheduler"][1] - cpu_before["scheduler"][1]
    )
    sampled_task_cpu = sum(sampler.task_process_cpu.values())
    requests = stats["requests_by_task_type"]
    return {
        "date": f"{triggered_at:%Y-%m-%d %H:%M} UTC",
        "machine": {
            "cores": os.cpu_count(),
            "cpu": platform.processor() or platform.machine(),
            "kernel": platform.release(),
            "python": platform.python_version(),
            "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in load_after],
        },
        "setup": {
            "items": args.items,
            "chunk_size": args.chunk_size,
            "chunks": chunks,
            "max_active_chunks": args.max_active_chunks,
            "parallelism": args.parallelism,
            "generation_time": args.generation_time,
            "jitter": args.jitter,
            "capacity": args.capacity,
            "ideal_seconds": math.ceil(args.items / args.capacity) * args.generation_time,
        },
        "run": {
            "state": state,
            "run_id": run_id,
            "start": run["start_date"],
            "end": run["end_date"],
            "duration_s": round((end - start).total_seconds(), 1),
            "triggered_to_end_s": round((end - triggered_at).total_seconds(), 1),
        },
        "task_instances": {
            "total": tis["total_entries"],
            "by_task": by_task,
            "tries": sum(ti["try_number"] for ti in task_instances),
            "states": sorted({ti["state"] for ti in task_instances}),
        },
        "task_processes_seen": len(sampler.task_processes),
        "task_processes_by_ti": len(set(sampler.task_processes.values())),
        "max_live_task_processes": sampler.max_live_task_processes,
        "max_deferred_at_once": sampler.max_deferred,
        "triggers": {
            "distinct_ids_seen": len(sampler.trigger_ids),
            "ids": {str(k): v for k, v in sorted(sampler.trigger_ids.items())},
            "trigger_log_files": len(trigger_logs),
        },
        "worker_cpu_s": round(worker_cpu, 2),
        "worker_cpu_ms_per_image": round(worker_cpu / args.items * 1000, 2),
        "task_process_cpu_sampled_s": round(sampled_task_cpu, 2),
        "orphans": sampler.orphans,
        "cpu_s_during_run": {
            "scheduler (own)": round(cpu_after["scheduler"][1] - cpu_before["scheduler"][1], 2),
            "workers and task processes": round(worker_cpu, 2),
            "triggerer": delta("triggerer"),
            "api-server": delta("api-server"),
            "dag-processor": delta("dag-processor"),
            "emulator": delta("emulator"),
        },
        "triggerer_memory_mib": {
            "rss_before": round(triggerer_rss_before, 1),
            "rss_peak_sampled": round(sampler.triggerer_rss_peak, 1),
            "vm_hwm_by_process": {k: round(v, 1) for k, v in hwm.items() if v is not None},
            "samples": sampler.process_samples,
        },
        "latency": {
            "last_image_ready": last_ready.isoformat(),
            "images_generated": final_images,
            "stats_polls": sampler.stats_polls,
            "last_generate_end": max(generate_ends).isoformat() if generate_ends else None,
            "finish_end": finish_end.isoformat() if finish_end else None,
            "run_end": end.isoformat(),
            "last_image_to_last_chunk_done_s": (
                round((max(generate_ends) - last_ready).total_seconds(), 1)
                if generate_ends
                else None
            ),
            "last_image_to_run_success_s": round((end - last_ready).total_seconds(), 1),
        },
        "timeline": {
            f"{ti['task_id']}[{ti['map_index']}]": {
                "queued": ti.get("queued_when"),
                "start": ti["start_date"],
                "end": ti["end_date"],
                "duration_s": ti.get("duration"),
            }
            for ti in sorted(task_instances, key=lambda ti: ti["end_date"] or "")
        },
        "emulator": {
            "tasks_accepted": stats["tasks_accepted"],
            "duplicate_submissions": stats["duplicate_submissions"],
            "requests": stats["requests"],
            "imageInference_tasks": requests.get("imageInference", 0),
            "getResponse_tasks": requests.get("getResponse", 0),
            "requests_per_image": round(stats["requests"] / args.items, 3),
            "images_served": stats["images_served"],
        },
        "images_stored": stored,
        "leftover_processes": leftovers,
    }


def markdown(result: dict[str, Any]) -> str:
    setup, run, ti = result["setup"], result["run"], result["task_instances"]
    mem, lat, em = result["triggerer_memory_mib"], result["latency"], result["emulator"]
    by_task = ", ".join(f"{task} {n}" for task, n in ti["by_task"].items())
    rows = [
        ("run", f"{run['state']} in {run['duration_s']} s (ideal {setup['ideal_seconds']:.0f} s)"),
        ("task instances created", f"{ti['total']} ({by_task}); {ti['tries']} tries"),
        (
            "triggers created",
            f"{result['triggers']['distinct_ids_seen']} "
            f"({result['triggers']['trigger_log_files']} trigger log files)",
        ),
        (
            "task processes started",
            f"{result['task_processes_seen']} "
            f"(for {result['task_processes_by_ti']} task instances)",
        ),
        (
            "worker CPU seconds in total",
            f"{result['worker_cpu_s']} s ({result['worker_cpu_ms_per_image']} ms per image)",
        ),
        (
            "triggerer peak memory (RSS)",
            f"{mem['rss_peak_sampled']} MiB (before the run {mem['rss_before']} MiB)",
        ),
        ("last image ready -> run success", f"{lat['last_image_to_run_success_s']} s"),
        ("last image ready -> last chunk done", f"{lat['last_image_to_last_chunk_done_s']} s"),
        (
            "API requests",
            f"{em['requests']} POSTs ({em['imageInference_tasks']} imageInference and "
            f"{em['getResponse_tasks']} getResponse tasks in them): "
            f"{em['requests_per_image']} per image",
        ),
        ("images stored", f"{result['images_stored']}"),
    ]
    lines = ["| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)]
    cpu = ", ".join(f"{k} {v} s" for k, v in result["cpu_s_during_run"].items())
    lines += ["", f"CPU seconds during the run: {cpu}."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.airflow_level", description=__doc__)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--chunk-size", type=int, default=100)
    parser.add_argument("--max-active-chunks", type=int, default=10)
    parser.add_argument("--parallelism", type=int, default=4, help="LocalExecutor worker slots")
    parser.add_argument("--generation-time", type=float, default=3.0)
    parser.add_argument("--jitter", type=float, default=0.2)
    parser.add_argument("--capacity", type=int, default=50, help="emulator tasks at once")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds for the run")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--keep", action="store_true", help="keep AIRFLOW_HOME and the images")
    args = parser.parse_args(argv)

    root = Path(tempfile.mkdtemp(prefix="wan-bench-airflow-"))
    try:
        result = measure(args, root)
    except BaseException as error:  # pytest.fail() from the stack's helpers is a BaseException
        if not isinstance(error, KeyboardInterrupt):
            print(f"failed: {error}", file=sys.stderr)
        print(f"logs kept in {root}", file=sys.stderr)
        return 1
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print()
    print(markdown(result))
    if args.keep:
        print(f"kept {root}", file=sys.stderr)
    else:
        shutil.rmtree(root, ignore_errors=True)
    return 0 if result["run"]["state"] == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
