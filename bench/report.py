"""Tables (Markdown) and charts (PNG, drawn with Pillow) from the benchmark's JSON results."""

from __future__ import annotations

import itertools
import math
import os
import re
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BEGIN = "<!-- bench:begin -->"
END = "<!-- bench:end -->"

LABELS = {
    "provider": "this provider",
    "provider-tuned": "this provider, tuned",
    "per-image": "per-image HTTP",
    "sdk": "Runware SDK",
}
COLOURS = {
    "provider": (31, 119, 180),
    "provider-tuned": (140, 190, 230),
    "per-image": (214, 39, 40),
    "sdk": (255, 127, 14),
    "file": (44, 160, 44),
    "gs": (148, 103, 189),
}

# The targets of issue 7, at N = 1,000.
TARGET_N = 1000
MAX_REQUESTS_PER_IMAGE = 0.05
MAX_WALL_OVER_IDEAL = 1.1
MAX_CPU_MS_PER_IMAGE = 5.0
FLAT_MEMORY_KB_PER_IMAGE = 1.0
"""Pull memory is "flat" when the pull's peak RSS growth rises by at most this much per
additional image from the smallest to the largest N (image bytes must never accumulate, and
per-image records must stay small)."""


def _generate(run: dict[str, Any]) -> dict[str, Any]:
    phase: dict[str, Any] = run["phases"][0]
    return phase


def _metrics(run: dict[str, Any]) -> dict[str, float]:
    g = _generate(run)
    n = run["count"]
    return {
        "requests": g["requests"],
        "requests_per_image": g["requests"] / n,
        "seconds": g["seconds"],
        "over_ideal": g["seconds"] / run["ideal_seconds"],
        "cpu_seconds": g["cpu_seconds"],
        "cpu_ms_per_image": g["cpu_seconds"] * 1000 / n,
        "rss_start": g["rss_start_mib"],
        "peak_rss": g["peak_rss_mib"],
        "kb_per_image": (g["bytes_sent"] + g["bytes_received"]) / 1000 / n,
        "connections": g["connections"],
    }


def _fmt(value: float, digits: int = 2) -> str:
    return f"{value:,.{digits}f}"


def generation_table(runs: Sequence[dict[str, Any]]) -> str:
    lines = [
        "| N | approach | API requests | per image | wall s | ideal s | x ideal | client CPU s "
        "| CPU ms/image | RSS at start MiB | peak RSS MiB | kB/image through client |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        m = _metrics(run)
        lines.append(
            f"| {run['count']:,} | {LABELS.get(run['approach'], run['approach'])} "
            f"| {m['requests']:,} | {_fmt(m['requests_per_image'], 3)} | {_fmt(m['seconds'], 1)} "
            f"| {_fmt(run['ideal_seconds'], 0)} | {_fmt(m['over_ideal'])} "
            f"| {_fmt(m['cpu_seconds'])} | {_fmt(m['cpu_ms_per_image'])} "
            f"| {_fmt(m['rss_start'], 0)} | {_fmt(m['peak_rss'], 0)} | {_fmt(m['kb_per_image'])} |"
        )
    return "\n".join(lines)


def _pull_phases(runs: Sequence[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    return [
        (run["count"], phase)
        for run in runs
        if run["approach"] == "provider"
        for phase in run["phases"][1:]
    ]


def pull_table(runs: Sequence[dict[str, Any]]) -> str:
    lines = [
        "| N | destination | images stored | wall s | images/s | client CPU s | CPU ms/image "
        "| RSS at start MiB | peak RSS MiB | growth MiB | MB received | MB sent |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for count, phase in _pull_phases(runs):
        images = max(phase["images"], 1)
        # Received: mostly the downloads; sent: the GCS uploads (a file:// store writes to
        # disk, so it sends only its requests' headers).
        lines.append(
            f"| {count:,} | `{phase['name'].removeprefix('pull-')}://` | {phase['images']:,} "
            f"| {_fmt(phase['seconds'], 1)} | {_fmt(phase['images'] / phase['seconds'], 0)} "
            f"| {_fmt(phase['cpu_seconds'])} | {_fmt(phase['cpu_seconds'] * 1000 / images)} "
            f"| {_fmt(phase['rss_start_mib'], 0)} | {_fmt(phase['peak_rss_mib'], 0)} "
            f"| {_fmt(phase['peak_rss_mib'] - phase['rss_start_mib'], 1)} "
            f"| {_fmt(phase['bytes_received'] / 1e6, 1)} | {_fmt(phase['bytes_sent'] / 1e6, 1)} |"
        )
    return "\n".join(lines)


def _pull_growth(runs: Sequence[dict[str, Any]]) -> dict[str, list[tuple[int, float]]]:
    growth: dict[str, list[tuple[int, float]]] = {}
    for count, phase in _pull_phases(runs):
        growth.setdefault(phase["name"], []).append(
            (count, phase["peak_rss_mib"] - phase["rss_start_mib"])
        )
    return growth


def targets_table(runs: Sequence[dict[str, Any]]) -> str:
    at = [r for r in runs if r["approach"] == "provider" and r["count"] == TARGET_N]
    if not at:
        return f"(no run of this provider at N = {TARGET_N:,}: targets not evaluated)"
    m = _metrics(at[0])

    def verdict(ok: bool) -> str:
        return "**met**" if ok else "**not met**"

    pulls = {p["name"]: p for p in at[0]["phases"][1:]}
    pull_cpu = ", ".join(
        f"{name.removeprefix('pull-')}:// {_fmt(p['cpu_seconds'] * 1000 / max(p['images'], 1))}"
        for name, p in pulls.items()
    )
    rows = [
        (
            f"API requests per image <= {MAX_REQUESTS_PER_IMAGE}",
            _fmt(m["requests_per_image"], 3),
            verdict(m["requests_per_image"] <= MAX_REQUESTS_PER_IMAGE),
        ),
        (
            f"wall time <= {MAX_WALL_OVER_IDEAL}x the ideal",
            f"{_fmt(m['over_ideal'])}x ({_fmt(m['seconds'], 1)} s for "
            f"{_fmt(at[0]['ideal_seconds'], 0)} s)",
            verdict(m["over_ideal"] <= MAX_WALL_OVER_IDEAL),
        ),
        (
            f"client CPU <= {MAX_CPU_MS_PER_IMAGE:g} ms per image (submit + wait)",
            f"{_fmt(m['cpu_ms_per_image'])} ms",
            verdict(m["cpu_ms_per_image"] <= MAX_CPU_MS_PER_IMAGE),
        ),
    ]
    if pulls:
        worst = max(p["cpu_seconds"] * 1000 / max(p["images"], 1) for p in pulls.values())
        rows.append(
            (
                f"... and with the pull upload ({pull_cpu} ms per image)",
                f"{_fmt(m['cpu_ms_per_image'] + worst)} ms",
                verdict(m["cpu_ms_per_image"] + worst <= MAX_CPU_MS_PER_IMAGE),
            )
        )
    stored = {
        (count, phase["name"]): phase["extra"].get("stored_bytes", 0)
        for count, phase in _pull_phases(runs)
    }
    for name, points in _pull_growth(runs).items():
        points.sort()
        if len(points) < 2:
            continue
        (n0, g0), (n1, g1) = points[0], points[-1]
        slope_kb = (g1 - g0) * 1024 * 1.024 / (n1 - n0)  # kB (1000 bytes) per image
        moved = stored.get((n1, name), 0) - stored.get((n0, name), 0)
        share = (g1 - g0) * 2**20 / moved * 100 if moved else 0.0
        listing = ", ".join(f"{_fmt(g, 1)} MiB at N={n:,}" for n, g in points)
        rows.append(
            (
                f"flat memory, pull to `{name.removeprefix('pull-')}://` (peak growth <= "
                f"{FLAT_MEMORY_KB_PER_IMAGE:g} kB per extra image)",
                f"growth {listing}: {_fmt(slope_kb, 1)} kB per extra image, "
                f"{_fmt(share, 1)} % of the extra image bytes stored",
                verdict(slope_kb <= FLAT_MEMORY_KB_PER_IMAGE),
            )
        )
    lines = ["| target (N = 1,000) | measured | |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines)


def _last_image_window(run: dict[str, Any]) -> tuple[float, float] | None:
    """Between which two polls the last image appeared (seconds since the phase began)."""
    polls = _generate(run)["extra"].get("polls") or []
    total = run["count"]
    for (before, seen_before), (after, seen) in itertools.pairwise(polls):
        if seen_before < total <= seen:
            return before, after
    return None


def polls_table(runs: Sequence[dict[str, Any]]) -> str:
    """When this provider's client polled, and when the last image was ready at the latest."""
    lines = [
        "| N | approach | polls at (s since submission began; images known) "
        "| last image ready between | x ideal |",
        "|---:|---|---|---|---:|",
    ]
    for run in runs:
        if not run["approach"].startswith("provider"):
            continue
        polls = _generate(run)["extra"].get("polls") or []
        window = _last_image_window(run)
        if not polls or window is None:
            continue
        if len(polls) > 8:
            gap = statistics.median(b[0] - a[0] for a, b in itertools.pairwise(polls))
            shown = (
                f"{len(polls)} polls about {gap:.1f} s apart, {polls[0][0]:g} to {polls[-1][0]:g}"
            )
        else:
            shown = ", ".join(f"{t:g} ({n:,})" for t, n in polls)
        lines.append(
            f"| {run['count']:,} | {LABELS[run['approach']]} | {shown} "
            f"| {window[0]:g} and {window[1]:g} s "
            f"| {window[0] / run['ideal_seconds']:.2f} to {window[1] / run['ideal_seconds']:.2f} |"
        )
    return "\n".join(lines)


def _schedule_text(settings: dict[str, Any]) -> str:
    first, factor, cap = settings["initial_delay"], settings["multiplier"], settings["max_delay"]
    if factor == 1 or first >= cap:
        return f"a poll every {first:g} s"
    return f"a first poll after {first:g} s, then waits x{factor:g} up to {cap:g} s"


def settings_text(runs: Sequence[dict[str, Any]]) -> str:
    """How this provider's client polled in these runs (recorded by bench/clients.py)."""
    parts = []
    for approach in ("provider", "provider-tuned"):
        found = [
            (run["count"], _generate(run)["extra"]["settings"])
            for run in runs
            if run["approach"] == approach and "settings" in _generate(run)["extra"]
        ]
        if not found:
            continue
        schedules = {_schedule_text(settings) for _, settings in found}
        sizes = {settings["poll_batch_size"] for _, settings in found}
        if len(sizes) == 1:
            size = f"{sizes.pop():,} `getResponse` per poll request"
        else:
            size = "`getResponse` per poll request: " + ", ".join(
                f"{s['poll_batch_size']:,} at N={n:,}" for n, s in found
            )
        parts.append(f"{LABELS[approach]}: {' / '.join(sorted(schedules))}, {size}")
    return "; ".join(parts) + "." if parts else ""


def markdown(
    results: dict[str, Any], *, charts: Sequence[Path] | None, base: Path | None = None
) -> str:
    cfg = results["config"]
    machine = results["machine"]
    runs = results["runs"]
    capacity = (
        f"a fixed capacity of {cfg['max_concurrent']} tasks at once"
        if cfg["max_concurrent"]
        else f"a capacity of N/{cfg['waves']} tasks at once ({cfg['waves']} waves)"
    )
    loads = [r["load_before"] for r in runs] + [r["load_after"] for r in runs]
    parts = [
        f"Measured on {results['date']} with `python -m bench` ({results['duration_seconds']} s "
        f"in all), on {machine['cores']} cores ({machine['cpu']}), {machine['system']}, "
        f"Python {machine['python']}; 1-minute load average during the runs "
        f"{min(loads):.1f} to {max(loads):.1f} (a shared machine).",
        f"Emulator: {cfg['generation_time']:g} s per image ± {cfg['jitter'] * 100:.0f} %, "
        f"{capacity}, images {cfg['image']}; per-image sensors poke every "
        f"{cfg['poke_interval']:g} s.",
    ]
    if settings_text(runs):
        parts.append(f"Polling: {settings_text(runs)}")
    parts += [
        "### Generating N images: submit, wait until every image is known",
        generation_table(runs),
        "### When the images were ready: the polls of this provider's client",
        polls_table(runs),
    ]
    if _pull_phases(runs):
        parts += ["### Storing them: this provider's pull mode", pull_table(runs)]
    parts += ["### The targets", targets_table(runs)]
    if charts:
        links = []
        for chart in charts:
            target = os.path.relpath(chart, base) if base else str(chart)
            links.append(f"![{chart.stem}]({target})")
        parts.append("\n".join(links))
    return "\n\n".join(parts)


def update_docs(path: Path, generated: str) -> None:
    """Replace the text between the markers of *path* (or append a marked section)."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    block = f"{BEGIN}\n{generated}\n{END}"
    if BEGIN in text and END in text:
        text = re.sub(re.escape(BEGIN) + r".*?" + re.escape(END), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)


# -- charts ----------------------------------------------------------------------------------


def _font(size: int) -> Any:
    from PIL import ImageFont

    return ImageFont.load_default(size=size)


def bar_chart(
    path: Path,
    title: str,
    groups: Sequence[str],
    series: Sequence[tuple[str, tuple[int, int, int], Sequence[float | None]]],
    *,
    unit: str,
    log: bool = False,
    target: float | None = None,
    target_label: str = "target",
) -> Path:
    """A grouped bar chart: one group per N, one bar per series; optional log scale and target."""
    from PIL import Image, ImageDraw

    width, height = 900, 420
    left, right, top, bottom = 90, 110, 50, 80
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    small, normal = _font(12), _font(15)
    values = [v for _, _, vs in series for v in vs if v is not None and v > 0]
    if target is not None:
        values.append(target)
    if not values:
        values = [1.0]
    if log:
        low = 10 ** math.floor(math.log10(min(values)))
        high = 10 ** math.ceil(math.log10(max(values) * 1.05))
        ticks = [10**e for e in range(round(math.log10(low)), round(math.log10(high)) + 1)]

        def y_of(v: float) -> float:
            frac = (math.log10(max(v, low)) - math.log10(low)) / (
                math.log10(high) - math.log10(low)
            )
            return top + (height - top - bottom) * (1 - frac)
    else:
        low, high = 0.0, max(values) * 1.15
        step = 10 ** math.floor(math.log10(high / 2)) if high > 0 else 1
        while high / step > 8:
            step *= 2
        ticks = [i * step for i in range(int(high / step) + 1)]

        def y_of(v: float) -> float:
            return top + (height - top - bottom) * (1 - (v - low) / (high - low))

    draw.text((left, 15), title, fill="black", font=normal)
    for tick in ticks:
        y = y_of(tick)
        draw.line([(left, y), (width - right, y)], fill=(225, 225, 225))
        label = f"{tick:g}"
        draw.text(
            (left - 8 - draw.textlength(label, font=small), y - 7), label, fill="black", font=small
        )
    draw.text((10, top - 25), unit, fill="black", font=small)
    plot_width = width - left - right
    group_width = plot_width / max(len(groups), 1)
    bar_width = group_width * 0.8 / max(len(series), 1)
    for g, group in enumerate(groups):
        x0 = left + g * group_width + group_width * 0.1
        for s, (_, colour, vs) in enumerate(series):
            value = vs[g] if g < len(vs) else None
            if value is None:
                continue
            x = x0 + s * bar_width
            draw.rectangle([x, y_of(value), x + bar_width - 2, y_of(low)], fill=colour)
            text = f"{value:.3g}"
            tw = draw.textlength(text, font=small)
            draw.text((x + (bar_width - tw) / 2, y_of(value) - 15), text, fill="black", font=small)
        tw = draw.textlength(group, font=normal)
        draw.text(
            (left + g * group_width + (group_width - tw) / 2, height - bottom + 8),
            group,
            fill="black",
            font=normal,
        )
    draw.line([(left, y_of(low)), (width - right, y_of(low))], fill="black")
    if target is not None:
        y = y_of(target)
        for x in range(left, width - right, 12):
            draw.line([(x, y), (x + 6, y)], fill=(0, 0, 0), width=2)
        draw.text(
            (width - right + 8, y - 7), f"{target_label} {target:g}", fill="black", font=small
        )
    x = left
    for name, colour, _ in series:
        draw.rectangle([x, height - 30, x + 14, height - 16], fill=colour)
        draw.text((x + 20, height - 32), name, fill="black", font=small)
        x += 30 + int(draw.textlength(name, font=small))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, optimize=True)
    return path


def charts(results: dict[str, Any], directory: Path) -> list[Path]:
    """Draw every chart into *directory*; returns their paths."""
    runs = results["runs"]
    counts = sorted({r["count"] for r in runs})
    approaches = [
        a for a in results["config"]["approaches"] if any(r["approach"] == a for r in runs)
    ]
    groups = [f"N = {n:,}" for n in counts]

    def series(metric: str) -> list[tuple[str, tuple[int, int, int], list[float | None]]]:
        out = []
        for approach in approaches:
            by_n = {r["count"]: _metrics(r)[metric] for r in runs if r["approach"] == approach}
            out.append(
                (
                    LABELS.get(approach, approach),
                    COLOURS.get(approach, (100, 100, 100)),
                    [by_n.get(n) for n in counts],
                )
            )
        return out

    made = [
        bar_chart(
            directory / "bench-requests.png",
            "API requests per image (log scale)",
            groups,
            series("requests_per_image"),
            unit="requests",
            log=True,
            target=MAX_REQUESTS_PER_IMAGE,
        ),
        bar_chart(
            directory / "bench-wall.png",
            "Wall time over the ideal (generation x waves)",
            groups,
            series("over_ideal"),
            unit="x ideal",
            target=MAX_WALL_OVER_IDEAL,
        ),
        bar_chart(
            directory / "bench-cpu.png",
            "Client CPU per image, submit + wait (log scale)",
            groups,
            series("cpu_ms_per_image"),
            unit="ms",
            log=True,
            target=MAX_CPU_MS_PER_IMAGE,
        ),
        bar_chart(
            directory / "bench-memory.png",
            "Peak RSS of the client process, submit + wait",
            groups,
            series("peak_rss"),
            unit="MiB",
        ),
        bar_chart(
            directory / "bench-bytes.png",
            "Bytes through the client per image (log scale)",
            groups,
            series("kb_per_image"),
            unit="kB",
            log=True,
        ),
    ]
    growth = _pull_growth(runs)
    if growth:
        pull_series = []
        for name, points in growth.items():
            by_n = dict(points)
            scheme = name.removeprefix("pull-")
            pull_series.append(
                (
                    f"pull to {scheme}://",
                    COLOURS.get(scheme, (100, 100, 100)),
                    [by_n.get(n) for n in counts],
                )
            )
        made.append(
            bar_chart(
                directory / "bench-pull-memory.png",
                "Pull mode: peak RSS growth while storing N images",
                groups,
                pull_series,
                unit="MiB",
            )
        )
    return made
