"""The benchmark of issue 7: this provider against per-image HTTP calls and Runware's own SDK.

One command (``python -m bench``) starts the emulator and a GCS emulator, each in its own
process, puts counting proxies in front of them (in this process), then for each N and each
approach resets the emulator, sets its capacity, and runs the client in a fresh process
(:mod:`bench.clients`), so that every client's CPU and memory are its own. It writes the
results as JSON, prints the tables, and with ``--docs`` rewrites the generated part of
docs/benchmarks.md and the charts docs/img/bench-*.png.

The emulator generates each image in ``--generation-time`` seconds (± ``--jitter``, relative)
with ``max_concurrent`` = ceil(N / ``--waves``) tasks at once (or ``--max-concurrent``), so
the ideal wall time is generation time x waves.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
DEFAULT_COUNTS = (100, 1000, 5000)


def _machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model or platform.processor(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
    }


def _load() -> float:
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else 0.0


class Servers:
    """The emulator and the GCS emulator as subprocesses, and the counting proxies."""

    def __init__(self, args: argparse.Namespace) -> None:
        from bench.emulator_throughput import start_emulator
        from bench.proxy import ProxyHost

        self.workdir = Path(tempfile.mkdtemp(prefix="wan-bench-"))
        self.emulator, api_url = start_emulator(
            generation_time=args.generation_time, max_concurrent=64
        )
        self.emulator_root = api_url.removesuffix("/v1")
        self.gcs: subprocess.Popen[bytes] | None = None
        self.gcs_bucket = "wan-bench" if args.gcs else ""
        upstreams = {"emulator": _host_port(self.emulator_root)}
        if args.gcs:
            from bench import gcs

            self.gcs, endpoint = gcs.start(self.gcs_bucket)
            upstreams["gcs"] = _host_port(endpoint)
        self.proxies = ProxyHost(upstreams).start()
        self.api_url = f"{self.proxies.proxies['emulator'].origin}/v1"
        self.env = dict(os.environ, PYTHONPATH=str(ROOT))
        if args.gcs:
            self.env["STORAGE_EMULATOR_HOST"] = self.proxies.proxies["gcs"].origin
        self.http = httpx.Client(base_url=self.emulator_root, timeout=30, trust_env=False)

    def prepare(self, **config: Any) -> None:
        """A fresh emulator (no tasks, counters at 0) with *config*."""
        self.http.post("/_emulator/reset", json={"restore_config": False}).raise_for_status()
        self.http.post("/_emulator/config", json=config).raise_for_status()

    def fresh_gcs(self) -> None:
        """A new, empty GCS emulator behind the same proxy (it keeps every object in memory)."""
        from bench import gcs

        if self.gcs is None:
            return
        self.gcs.terminate()
        self.gcs.wait(timeout=15)
        self.gcs, endpoint = gcs.start(self.gcs_bucket)
        self.proxies.proxies["gcs"].upstream = _host_port(endpoint)

    def emulator_cpu(self) -> float:
        import psutil

        times = psutil.Process(self.emulator.pid).cpu_times()
        return float(times.user + times.system)

    def close(self) -> None:
        self.http.close()
        self.proxies.stop()
        for process in (self.emulator, self.gcs):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)


def _host_port(origin: str) -> tuple[str, int]:
    url = httpx.URL(origin if "://" in origin else f"http://{origin}")
    return url.host, int(url.port or 80)


def run_one(
    servers: Servers, args: argparse.Namespace, approach: str, count: int
) -> dict[str, Any]:
    """Run one client process and return its phases with the run's parameters."""
    capacity = args.max_concurrent or math.ceil(count / args.waves)
    waves = math.ceil(count / capacity)
    if approach == "provider" and args.pull:
        servers.fresh_gcs()
    servers.prepare(
        generation_time=args.generation_time,
        generation_jitter=args.jitter,
        max_concurrent=capacity,
        queue_size=max(10_000, 2 * count),
        seed=args.seed,
    )
    host, port = servers.proxies.control
    command = [
        sys.executable,
        "-m",
        "bench.clients",
        "--approach",
        approach,
        "--count",
        str(count),
        "--api-url",
        servers.api_url,
        "--emulator-root",
        servers.emulator_root,
        "--control",
        f"{host}:{port}",
        "--width",
        str(args.width),
        "--height",
        str(args.height),
        "--format",
        args.format,
        "--poke-interval",
        str(args.poke_interval),
        "--workdir",
        str(servers.workdir),
        "--gcs-bucket",
        servers.gcs_bucket,
        "--pull" if args.pull else "--no-pull",
    ]
    load_before = _load()
    cpu_before = servers.emulator_cpu()
    started = time.perf_counter()
    process = subprocess.run(
        command, cwd=ROOT, env=servers.env, capture_output=True, text=True, timeout=args.run_timeout
    )
    elapsed = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(
            f"{approach} with N={count} failed (exit {process.returncode}):\n"
            f"{process.stderr[-4000:]}"
        )
    result: dict[str, Any] = json.loads(process.stdout.strip().splitlines()[-1])
    for stale in servers.workdir.glob("bench__*"):
        shutil.rmtree(stale, ignore_errors=True)
    result.update(
        approach=approach,
        count=count,
        capacity=capacity,
        waves=waves,
        ideal_seconds=args.generation_time * waves,
        process_seconds=round(elapsed, 2),
        emulator_cpu_seconds=round(servers.emulator_cpu() - cpu_before, 2),
        load_before=load_before,
        load_after=_load(),
    )
    return result


def summary_line(run: dict[str, Any]) -> str:
    generate = run["phases"][0]
    n = run["count"]
    text = (
        f"{run['approach']:>14} N={n:<5} {generate['requests'] / n:7.3f} req/image  "
        f"{generate['seconds']:6.1f} s = {generate['seconds'] / run['ideal_seconds']:4.2f}x ideal  "
        f"{generate['cpu_seconds'] * 1000 / n:6.2f} ms CPU/image  "
        f"peak {generate['peak_rss_mib']:6.1f} MiB"
    )
    for phase in run["phases"][1:]:
        text += (
            f"  | {phase['name']}: {phase['seconds']:.1f} s, "
            f"{phase['cpu_seconds'] * 1000 / max(phase['images'], 1):.2f} ms CPU/image, "
            f"peak {phase['peak_rss_mib']:.1f} MiB"
        )
    return text


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--counts", type=int, nargs="+", default=list(DEFAULT_COUNTS))
    parser.add_argument(
        "--approaches",
        nargs="+",
        default=["provider", "provider-tuned", "per-image", "sdk"],
        choices=["provider", "provider-tuned", "per-image", "sdk"],
    )
    parser.add_argument("--generation-time", type=float, default=3.0, help="seconds per image")
    parser.add_argument("--jitter", type=float, default=0.2, help="relative, 0..1")
    parser.add_argument("--waves", type=int, default=5, help="capacity = ceil(N / waves)")
    parser.add_argument("--max-concurrent", type=int, default=0, help="a fixed capacity instead")
    parser.add_argument("--poke-interval", type=float, default=5.0, help="per-image sensor")
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--height", type=int, default=1024)
    parser.add_argument("--format", default="JPG", choices=["JPG", "PNG", "WEBP"])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--pull", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--gcs", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--run-timeout", type=float, default=1800.0)
    parser.add_argument("--output", type=Path, default=RESULTS / "latest.json")
    parser.add_argument(
        "--docs", action="store_true", help="rewrite docs/benchmarks.md's tables and the charts"
    )
    parser.add_argument("--docs-path", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--charts-dir", type=Path, default=ROOT / "docs" / "img")
    parser.add_argument(
        "--report-only", action="store_true", help="only render --output (no measurement)"
    )
    args = parser.parse_args(argv)
    if not args.pull:
        args.gcs = False
    if "sdk" in args.approaches and importlib.util.find_spec("runware") is None:
        print("runware-sdk is not installed (the bench extra, Python 3.11+): skipping 'sdk'")
        args.approaches = [a for a in args.approaches if a != "sdk"]
    return args


def measure(args: argparse.Namespace) -> dict[str, Any]:
    started = datetime.now(timezone.utc)
    servers = Servers(args)
    runs = []
    try:
        for count in args.counts:
            for approach in args.approaches:
                run = run_one(servers, args, approach, count)
                print(summary_line(run), flush=True)
                runs.append(run)
    finally:
        servers.close()
    return {
        "date": started.strftime("%Y-%m-%d %H:%M UTC"),
        "duration_seconds": round((datetime.now(timezone.utc) - started).total_seconds()),
        "machine": _machine(),
        "config": {
            "generation_time": args.generation_time,
            "jitter": args.jitter,
            "waves": args.waves,
            "max_concurrent": args.max_concurrent,
            "poke_interval": args.poke_interval,
            "image": f"{args.width}x{args.height} {args.format}",
            "counts": args.counts,
            "approaches": args.approaches,
        },
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> None:
    from bench import report

    args = parse_args(argv)
    if args.report_only:
        results = json.loads(args.output.read_text())
    else:
        results = measure(args)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(results, indent=1) + "\n")
        print(f"results: {args.output}")
    print(report.markdown(results, charts=None))
    if args.docs:
        charts = report.charts(results, args.charts_dir)
        report.update_docs(
            args.docs_path, report.markdown(results, charts=charts, base=args.docs_path.parent)
        )
        print(f"updated {args.docs_path} and {len(charts)} chart(s) in {args.charts_dir}")


if __name__ == "__main__":
    main()
