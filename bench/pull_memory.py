"""Benchmark: the peak memory of pull mode does not grow with the number of images.

Serves one ~2 MB PNG (random pixels, so it does not compress) from a local HTTP server under
``count`` different URLs, and pulls them into a destination with the real ``ImagePuller``
(``SourcePolicy`` allowing the local origin). Each run happens in a fresh child process that
reports its peak RSS (``ru_maxrss``) and the peak of Python allocations (``tracemalloc``), so
runs with 0, 50, 100 and 200 images can be compared: flat means the memory is bounded by the
concurrency, not by the count.

    .venv/bin/python bench/pull_memory.py                       # file:// destination
    .venv/bin/python bench/pull_memory.py --backend s3          # moto_server subprocess
    .venv/bin/python bench/pull_memory.py --backend gs          # gcp-storage-emulator subprocess
    .venv/bin/python bench/pull_memory.py --counts 0 200 --concurrency 16
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_png(target_bytes: int) -> bytes:
    """A PNG of random pixels, about *target_bytes* long."""
    import io

    from PIL import Image

    side = int((target_bytes / 3) ** 0.5)
    pixels = random.Random(0).randbytes(side * side * 3)
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), pixels).save(out, format="PNG", compress_level=1)
    return out.getvalue()


def serve(body: bytes) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_backend(backend: str, workdir: Path) -> tuple[subprocess.Popen[bytes] | None, str]:
    """Start the storage server for *backend*; return it and the destination prefix."""
    if backend == "file":
        return None, f"file://{workdir}/out/"
    import httpx

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    bindir = Path(sys.executable).parent
    if backend == "s3":
        command = [str(bindir / "moto_server"), "-H", "127.0.0.1", "-p", str(port)]
        probe = f"{endpoint}/moto-api/"
    else:
        command = [
            str(bindir / "gcp-storage-emulator"),
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--in-memory",
        ]
        probe = f"{endpoint}/"
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            httpx.get(probe, timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    bucket = "wan-bench"
    if backend == "s3":
        os.environ.update(
            AWS_ENDPOINT_URL_S3=endpoint,
            AWS_ACCESS_KEY_ID="bench",
            AWS_SECRET_ACCESS_KEY="bench-secret",
            AWS_DEFAULT_REGION="us-east-1",
        )
        from airflow_provider_wan.storage.s3 import create_s3_client

        create_s3_client().create_bucket(Bucket=bucket)
        return process, f"s3://{bucket}/out/"
    os.environ["STORAGE_EMULATOR_HOST"] = endpoint
    from airflow_provider_wan.storage.gcs import create_gcs_client

    create_gcs_client().create_bucket(bucket)
    return process, f"gs://{bucket}/out/"


def child(args: argparse.Namespace) -> None:
    """One measured run (in its own process)."""
    from airflow_provider_wan.storage.gcs import GcsStore, create_gcs_client
    from airflow_provider_wan.storage.local import LocalStore
    from airflow_provider_wan.storage.metadata import ImageMetadata
    from airflow_provider_wan.storage.pull import ImagePuller, ImageSource, PullJob, SourcePolicy
    from airflow_provider_wan.storage.s3 import S3Store, create_s3_client

    if args.prefix.startswith("s3://"):
        store: object = S3Store(create_s3_client())
    elif args.prefix.startswith("gs://"):
        store = GcsStore(create_gcs_client())
    else:
        store = LocalStore()
    jobs = (
        PullJob(
            item_key=f"item-{i:04d}",
            source=ImageSource(url=f"{args.origin}/image/{i}.png"),
            destination=f"{args.prefix}item-{i:04d}-0.png",
            output_format="PNG",
            metadata=ImageMetadata(task_uuid=f"task-{i}", image_uuid=f"image-{i}", seed=i),
        )
        for i in range(args.count)
    )
    tracemalloc.start()
    started = time.perf_counter()
    with ImagePuller(
        store,  # type: ignore[arg-type]
        policy=SourcePolicy(extra_origins=(args.origin,)),
        concurrency=args.concurrency,
    ) as puller:
        report = puller.pull(jobs)
    elapsed = time.perf_counter() - started
    _, traced_peak = tracemalloc.get_traced_memory()
    stored = sum(image.stored.size for image in report.stored)
    print(
        json.dumps(
            {
                "count": args.count,
                "stored": len(report.stored),
                "failed": len(report.failed),
                "bytes": stored,
                "seconds": round(elapsed, 2),
                "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "peak_traced_mib": round(traced_peak / 2**20, 1),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["file", "s3", "gs"], default="file")
    parser.add_argument("--counts", type=int, nargs="+", default=[0, 50, 100, 200])
    parser.add_argument("--image-bytes", type=int, default=2 * 1024 * 1024)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--origin", default="", help=argparse.SUPPRESS)
    parser.add_argument("--prefix", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    body = make_png(args.image_bytes)
    server, origin = serve(body)
    workdir = Path(tempfile.mkdtemp(prefix="wan-bench-"))
    process, prefix = start_backend(args.backend, workdir)
    print(
        f"backend {args.backend}, image {len(body):,} bytes, concurrency {args.concurrency}, "
        f"python {sys.version.split()[0]}"
    )
    header = ("images", 7), ("stored MiB", 11), ("seconds", 8), ("peak RSS MiB", 13)
    print(" ".join(f"{name:>{width}}" for name, width in header), f"{'peak traced MiB':>16}")
    results = []
    try:
        for count in args.counts:
            output = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    "--count",
                    str(count),
                    "--origin",
                    origin,
                    "--prefix",
                    prefix,
                    "--concurrency",
                    str(args.concurrency),
                ],
                check=True,
                capture_output=True,
                text=True,
                env=os.environ,
            ).stdout
            result = json.loads(output.strip().splitlines()[-1])
            results.append(result)
            assert result["failed"] == 0, result
            print(
                f"{count:>7} {result['bytes'] / 2**20:>11.1f} {result['seconds']:>8.2f} "
                f"{result['peak_rss_mib']:>13.1f} {result['peak_traced_mib']:>16.1f}"
            )
            if args.backend == "file":
                shutil.rmtree(workdir / "out", ignore_errors=True)
    finally:
        server.shutdown()
        if process is not None:
            process.terminate()
            process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)
    measured = [r for r in results if r["count"] > 0]
    if len(measured) >= 2:
        spread = max(r["peak_rss_mib"] for r in measured) - min(r["peak_rss_mib"] for r in measured)
        print(f"peak RSS spread across {[r['count'] for r in measured]} images: {spread:.1f} MiB")


if __name__ == "__main__":
    main()
