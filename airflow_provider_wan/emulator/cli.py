"""Command line: ``python -m airflow_provider_wan.emulator [options]``.

Prints ``Runware emulator listening on http://HOST:PORT/v1`` once it accepts requests, then
serves until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from .config import EmulatorConfig, FaultConfig
from .server import EmulatorServer


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used to document the options)."""
    defaults = EmulatorConfig()
    fault_defaults = FaultConfig()
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_wan.emulator",
        description="A local Runware-compatible API server for alibaba:wan@2.6-image.",
    )
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    add("--port", type=int, default=0, help="port to bind; 0 picks a free one (default: 0)")
    add(
        "--api-key",
        action="append",
        default=[],
        dest="api_keys",
        help="accepted bearer key (repeatable); none given: any non-empty key is accepted",
    )
    add("--generation-time", type=float, default=defaults.generation_time, help="s per image")
    add(
        "--generation-jitter",
        type=float,
        default=defaults.generation_jitter,
        help="relative jitter of the generation time, 0..1",
    )
    add("--max-concurrent", type=int, default=defaults.max_concurrent)
    add("--queue-size", type=int, default=defaults.queue_size)
    add("--cost-per-image", type=float, default=defaults.cost_per_image)
    add("--nsfw-word", default=defaults.nsfw_word)
    add("--seed", type=int, default=defaults.seed)
    add("--public-host", default=None, help="host[:port] or origin used in imageURL")
    add("--image-retention", type=float, default=defaults.image_retention)
    add("--task-retention", type=float, default=defaults.task_retention)
    add("--webhook-max-attempts", type=int, default=defaults.webhook_max_attempts)
    add("--webhook-backoff", type=float, default=defaults.webhook_backoff)
    add("--callback-timeout", type=float, default=defaults.callback_timeout)
    add(
        "--allow-remote-callbacks",
        action="store_true",
        help="allow uploads and webhooks to non-loopback hosts",
    )
    add("--fault-500", type=float, default=0.0, help="rate of injected HTTP 500")
    add("--fault-503", type=float, default=0.0, help="rate of injected HTTP 503")
    add("--fault-429", type=float, default=0.0, help="rate of injected HTTP 429")
    add(
        "--fault-retry-after",
        type=float,
        default=fault_defaults.retry_after,
        help="Retry-After seconds on injected 429/503; negative: omit the header",
    )
    add("--fault-drop", type=float, default=0.0, help="rate of dropped connections")
    add(
        "--fault-drop-after-fraction",
        type=float,
        default=fault_defaults.drop_after_fraction,
        help="share of drops after the request was processed",
    )
    add("--fault-slow", type=float, default=0.0, help="rate of slow responses")
    add("--fault-slow-seconds", type=float, default=fault_defaults.slow_seconds)
    add("--fault-malformed", type=float, default=0.0, help="rate of malformed bodies")
    add("--fault-task-error", type=float, default=0.0, help="rate of failed tasks")
    add("--fault-task-error-code", default=fault_defaults.task_error_code)
    add("--log-level", default="warning", help="uvicorn log level")
    return parser


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    """The configuration described by parsed arguments."""
    faults = FaultConfig(
        http_500=args.fault_500,
        http_503=args.fault_503,
        http_429=args.fault_429,
        retry_after=None if args.fault_retry_after < 0 else args.fault_retry_after,
        drop_connection=args.fault_drop,
        drop_after_fraction=args.fault_drop_after_fraction,
        slow_response=args.fault_slow,
        slow_seconds=args.fault_slow_seconds,
        malformed_body=args.fault_malformed,
        task_error=args.fault_task_error,
        task_error_code=args.fault_task_error_code,
    )
    return EmulatorConfig(
        api_keys=tuple(args.api_keys),
        generation_time=args.generation_time,
        generation_jitter=args.generation_jitter,
        max_concurrent=args.max_concurrent,
        queue_size=args.queue_size,
        cost_per_image=args.cost_per_image,
        nsfw_word=args.nsfw_word,
        seed=args.seed,
        faults=faults,
        public_host=args.public_host,
        image_retention=args.image_retention,
        task_retention=args.task_retention,
        webhook_max_attempts=args.webhook_max_attempts,
        webhook_backoff=args.webhook_backoff,
        callback_timeout=args.callback_timeout,
        allow_remote_callbacks=args.allow_remote_callbacks,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the emulator until SIGINT or SIGTERM; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    server = EmulatorServer(config, host=args.host, port=args.port, log_level=args.log_level)
    try:
        server.start()
        print(f"Runware emulator listening on {server.base_url}", flush=True)
        while not stop.is_set() and server.running:
            stop.wait(0.5)
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not stop.is_set():
        print("Runware emulator stopped unexpectedly", file=sys.stderr, flush=True)
        return 1
    return 0
