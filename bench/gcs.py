"""gcp-storage-emulator for the benchmark: in memory, one bucket, without its quadratic cost.

gcp-storage-emulator (2026.7) rewrites a JSON file describing *every* object it holds after
each upload (``Storage._write_config_to_file``), even in memory, so uploads slow down as
objects accumulate: 5,000 uploads took 424 s (12 per second) in a first run, nearly all of it
in the emulator, which would measure the emulator rather than the provider. In memory that
file is never read again (only ``Storage.__init__`` reads it), so this launcher turns the
rewrite off and serves the emulator's own handlers unchanged.

    python -m bench.gcs --port 9023 --bucket wan-bench
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def start(bucket: str) -> tuple[subprocess.Popen[bytes], str]:
    """Start the emulator on a free port; return it and its endpoint (``http://host:port``)."""
    from bench.pull_memory import free_port

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.gcs", "--port", str(port), "--bucket", bucket],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{endpoint}/storage/v1/b/{bucket}", timeout=1).status_code == 200:
                return process, endpoint
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            break
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("gcp-storage-emulator did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bucket", required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    from gcp_storage_emulator.server import create_server
    from gcp_storage_emulator.storage import Storage

    Storage._write_config_to_file = lambda self: None  # type: ignore[method-assign]
    create_server("127.0.0.1", args.port, in_memory=True, default_bucket=args.bucket).run()


if __name__ == "__main__":
    main()
