"""Measure the emulator's throughput with thousands of tasks in flight.

Runs the emulator as a separate process (its own interpreter and core, like in a real
benchmark) and drives it with an asyncio httpx client:

1. submission: N async imageInference tasks in batches, several requests in parallel;
2. polling: getResponse for all N tasks in batches while all of them are still in flight;
3. completion: the same N tasks with a short generation time, polled until all are done.

Usage: ``python bench/emulator_throughput.py [--tasks 5000] [--batch 50] [--parallel 8]``
"""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
import subprocess
import sys
import time
import uuid
from typing import Any

import httpx

KEY = "bench-key"
MODEL = "alibaba:wan@2.6-image"


def start_emulator(
    generation_time: float, max_concurrent: int
) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_wan.emulator",
            "--port",
            "0",
            "--api-key",
            KEY,
            "--generation-time",
            str(generation_time),
            "--max-concurrent",
            str(max_concurrent),
            "--queue-size",
            "1000000",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.search(r"(http://\S+/v1)", line)
    if not match:
        process.kill()
        raise SystemExit(f"emulator did not start: {line!r}")
    return process, match.group(1)


def task(index: int) -> dict[str, Any]:
    return {
        "taskType": "imageInference",
        "taskUUID": str(uuid.uuid4()),
        "model": MODEL,
        "positivePrompt": f"benchmark image {index}",
        "width": 1024,
        "height": 1024,
        "deliveryMethod": "async",
    }


async def run_batches(
    client: httpx.AsyncClient, url: str, batches: list[list[dict[str, Any]]], parallel: int
) -> tuple[float, list[dict[str, Any]]]:
    queue: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue()
    for batch in batches:
        queue.put_nowait(batch)
    bodies: list[dict[str, Any]] = []

    async def worker() -> None:
        while not queue.empty():
            batch = queue.get_nowait()
            response = await client.post(url, json=batch)
            response.raise_for_status()
            bodies.append(response.json())

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(parallel)))
    return time.perf_counter() - started, bodies


def chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


async def measure(args: argparse.Namespace) -> None:
    headers = {"Authorization": f"Bearer {KEY}"}
    limits = httpx.Limits(max_connections=args.parallel)

    # 1 + 2: everything stays in flight (generation time far longer than the benchmark).
    process, url = start_emulator(generation_time=3600, max_concurrent=args.tasks)
    try:
        async with httpx.AsyncClient(
            headers=headers, timeout=60, limits=limits, trust_env=False
        ) as client:
            tasks = [task(i) for i in range(args.tasks)]
            elapsed, _ = await run_batches(client, url, chunks(tasks, args.batch), args.parallel)
            print(
                f"submit: {args.tasks} tasks in batches of {args.batch}, {args.parallel} in "
                f"parallel: {elapsed:.2f} s = {args.tasks / elapsed:,.0f} tasks/s "
                f"({len(tasks) / args.batch / elapsed:,.0f} requests/s)"
            )
            single = [task(i) for i in range(1000)]
            elapsed, _ = await run_batches(client, url, chunks(single, 1), args.parallel)
            print(f"submit, one task per request: {1000 / elapsed:,.0f} requests/s")
            stats = (await client.get(url.replace("/v1", "/_emulator/stats"))).json()
            print(f"in flight: {stats['in_flight']}")
            polls = [{"taskType": "getResponse", "taskUUID": t["taskUUID"]} for t in tasks]
            rounds = 3
            elapsed, _ = await run_batches(
                client, url, chunks(polls, args.poll_batch) * rounds, args.parallel
            )
            total = len(polls) * rounds
            print(
                f"poll: {total} getResponse in batches of {args.poll_batch} with "
                f"{args.tasks} in flight: {elapsed:.2f} s = {total / elapsed:,.0f} polls/s "
                f"({total / args.poll_batch / elapsed:,.0f} requests/s)"
            )
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)

    # 3: completion of every task, URL outputs (no encoding until fetched).
    process, url = start_emulator(generation_time=1.0, max_concurrent=args.tasks)
    try:
        async with httpx.AsyncClient(
            headers=headers, timeout=60, limits=limits, trust_env=False
        ) as client:
            tasks = [task(i) for i in range(args.tasks)]
            started = time.perf_counter()
            await run_batches(client, url, chunks(tasks, args.batch), args.parallel)
            pending = {t["taskUUID"] for t in tasks}
            while pending:
                polls = [{"taskType": "getResponse", "taskUUID": u} for u in pending]
                _, bodies = await run_batches(
                    client, url, chunks(polls, args.poll_batch), args.parallel
                )
                for body in bodies:
                    for item in body.get("data", []):
                        if item.get("status") == "success":
                            pending.discard(item["taskUUID"])
                if pending:
                    await asyncio.sleep(0.2)
            elapsed = time.perf_counter() - started
            print(
                f"complete: {args.tasks} tasks of 1 s each, all concurrent, submitted and "
                f"polled to success in {elapsed:.2f} s"
            )
            polls = [{"taskType": "getResponse", "taskUUID": t["taskUUID"]} for t in tasks[:200]]
            body = (await client.post(url, json=polls)).json()
            urls = [item["imageURL"] for item in body["data"]]
            fetched = 0
            started = time.perf_counter()

            async def fetch(part: list[str]) -> None:
                nonlocal fetched
                for image_url in part:
                    fetched += len((await client.get(image_url)).content)

            await asyncio.gather(*(fetch(urls[i :: args.parallel]) for i in range(args.parallel)))
            elapsed = time.perf_counter() - started
            print(
                f"fetch: {len(urls)} 1024x1024 JPEG images rendered on request: "
                f"{len(urls) / elapsed:,.0f} images/s ({fetched / elapsed / 1e6:,.1f} MB/s)"
            )
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--poll-batch", type=int, default=100)
    parser.add_argument("--parallel", type=int, default=8)
    asyncio.run(measure(parser.parse_args()))


if __name__ == "__main__":
    main()
