"""The dashboard stays responsive under load, measured in a real headless Chromium against a real server.

1. A job prints 100,000 lines a second (6.1 MB/s) while its page follows the tail: the page must keep answering
   input (Event Timing: pointer/key input to the next paint), its main thread must keep running timers (a
   50 ms probe's lateness), and its JS heap (after a forced GC) and DOM stay bounded, while the terminal keeps
   up with the job's tail (older lines it cannot draw in time are skipped, and said so).
2. 200 jobs that each print a line every 0.3 s, in the jobs table: every row updates, and the same probes hold.

The load lasts ``CC_EXECUTOR_DASHBOARD_LOAD_SECONDS`` (default 10 in the suite; the figures in docs/dashboard.md
are from 60 s runs of this file alone). Bounds are generous (a 2-core CI machine with other tests beside it);
the figures are printed, and written as JSON to ``CC_EXECUTOR_DASHBOARD_LOAD_REPORT`` when set.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ServerFactory, ServerProcess
from dashboard_support import api_calls, browser, logged_in_page
from playwright.sync_api import Browser, CDPSession, Page, expect

__all__ = ["browser"]  # the fixture, imported for the tests below

pytestmark = [pytest.mark.xdist_group("dashboard_browser"), pytest.mark.load]

TOKEN = "load-test-token-0123"
SECONDS = float(os.environ.get("CC_EXECUTOR_DASHBOARD_LOAD_SECONDS", "10"))
LINES_PER_SECOND = 100_000
REPORT = os.environ.get("CC_EXECUTOR_DASHBOARD_LOAD_REPORT")

# Paced by the clock: the job is at LINES_PER_SECOND * elapsed lines at every moment, written in chunks every
# few ms (61 bytes a line), then prints "done <n>".
PRODUCER = """
import sys, time
out = sys.stdout.buffer
rate, seconds = int(sys.argv[1]), float(sys.argv[2])
line = b"%09d the quick brown fox jumps over the lazy dog, again\\n"
n = 0
start = time.monotonic()
while (elapsed := time.monotonic() - start) < seconds:
    target = int(elapsed * rate) + rate // 100
    if n < target:
        out.write(b"".join(line % i for i in range(n, target)))
        out.flush()
        n = target
    else:
        time.sleep(0.002)
out.write(b"done %d\\n" % n)
out.flush()
"""

TICKER = """
import sys, time
for i in range(int(sys.argv[1])):
    print("tick", i, flush=True)
    time.sleep(float(sys.argv[2]))
"""

# Installed in the page: a 50 ms interval timer's lateness (the main thread's availability), long tasks, and
# Event Timing entries (input to next paint) for the interactions the test makes.
PROBE = """() => {
  const probe = { lateness: [], longTasks: [], events: [] };
  let expected = performance.now() + 50;
  probe.timer = setInterval(() => {
    const now = performance.now();
    probe.lateness.push(Math.max(0, now - expected));
    expected = now + 50;
  }, 50);
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) probe.longTasks.push(e.duration);
  }).observe({ type: "longtask" });
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if (["pointerdown", "pointerup", "click", "keydown", "keyup"].includes(e.name)) {
        probe.events.push({ name: e.name, duration: e.duration, delay: e.processingStart - e.startTime });
      }
    }
  }).observe({ type: "event", durationThreshold: 16, buffered: false });
  window.__probe = probe;
}"""
RESET_PROBE = "() => { const p = window.__probe; p.lateness = []; p.longTasks = []; p.events = []; }"


@pytest.fixture
def srv(make_server: ServerFactory) -> Iterator[ServerProcess]:
    yield make_server(CC_EXECUTOR_TOKEN=TOKEN, CC_EXECUTOR_MAX_JOBS_PER_SESSION="400")


def _call(srv: ServerProcess, calls: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    return api_calls(srv, TOKEN, calls)


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _memory(cdp: CDPSession) -> dict[str, float]:
    """JS heap after a forced GC (what the page keeps, with its array buffers) and the DOM's size, from the DevTools
    protocol."""
    cdp.send("HeapProfiler.collectGarbage")
    heap = cdp.send("Runtime.getHeapUsage")
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    # backingStorageSize: ArrayBuffers outside the JS heap (xterm keeps its scrollback in typed arrays).
    return {
        "heap_mb": (heap["usedSize"] + heap.get("backingStorageSize", 0)) / 1e6,
        "nodes": metrics["Nodes"],
        "listeners": metrics["JSEventListeners"],
    }


def _busy(cdp: CDPSession) -> dict[str, float]:
    """The renderer's main-thread seconds so far, split: all tasks, script, layout, style recalculation."""
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    names = {
        "task": "TaskDuration",
        "script": "ScriptDuration",
        "layout": "LayoutDuration",
        "style": "RecalcStyleDuration",
    }
    return {key: float(metrics[name]) for key, name in names.items()}


def _busy_share(before: dict[str, float], after: dict[str, float], seconds: float) -> dict[str, float]:
    """Each part's share of wall time between two ``_busy`` readings (0.25: a quarter of the main thread)."""
    return {key: round((after[key] - before[key]) / seconds, 3) for key in before}


def _interact(page: Page) -> float:
    """A click on the search box and a key typed into it; returns the wall time Playwright waited (its IPC
    round trip included)."""
    started = time.monotonic()
    page.locator("#output-search, #jobs-search").first.click(timeout=30_000)
    page.keyboard.type("x")
    page.keyboard.press("Backspace")
    return time.monotonic() - started


def _probe_figures(page: Page) -> dict[str, Any]:
    probe = page.evaluate(
        "() => { const p = window.__probe; return {lateness: p.lateness, longTasks: p.longTasks, events: p.events}; }"
    )
    lateness = [float(x) for x in probe["lateness"]]
    long_tasks = [float(x) for x in probe["longTasks"]]
    inputs = [float(e["duration"]) for e in probe["events"]]
    return {
        "timer_lateness_ms": {"p50": _pct(lateness, 0.5), "p99": _pct(lateness, 0.99), "max": max(lateness, default=0)},
        "timer_samples": len(lateness),
        "long_tasks": len(long_tasks),
        "long_task_ms": {"p50": _pct(long_tasks, 0.5), "max": max(long_tasks, default=0), "sum": sum(long_tasks)},
        # Event Timing entries at or over 16 ms only: fewer entries means more inputs answered within a frame.
        "slow_input_events": len(inputs),
        "input_to_paint_ms": {"p50": _pct(inputs, 0.5), "max": max(inputs, default=0)},
    }


def _report(name: str, figures: dict[str, Any]) -> None:
    print(f"\n{name}: {json.dumps(figures, indent=1)}")
    if REPORT:
        path = Path(REPORT)
        existing = json.loads(path.read_text()) if path.exists() else {}
        existing[name] = figures
        path.write_text(json.dumps(existing, indent=1))


@pytest.mark.parametrize("throttle", [1, 6], ids=["full_speed_cpu", "cpu_6x_slower"])
def test_following_a_100k_lines_per_second_job_keeps_the_page_responsive(
    browser: Browser, srv: ServerProcess, tmp_path: Path, throttle: int
) -> None:
    """At full speed this machine's Chromium draws all of it; with the tab's CPU 6x slower (DevTools' CPU
    throttling, a slow laptop's tab) it cannot, and the render budget must skip to the tail instead of falling
    behind: the skipped lines are counted and said, and the page stays as responsive and as small."""
    seconds = SECONDS
    producer = tmp_path / "producer.py"
    producer.write_text(PRODUCER)
    page = logged_in_page(browser, srv, TOKEN)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable")
    cdp.send("Emulation.setCPUThrottlingRate", {"rate": throttle})
    command = f"{sys.executable} {producer} {LINES_PER_SECOND} {seconds}"
    (job,) = _call(srv, [("execute", {"command": command, "detach": True})])
    job_id = job["job_id"]
    page.goto(f"{srv.http}/#/job/{job_id}")
    expect(page.locator(f'#job[data-job-id="{job_id}"]')).to_be_visible(timeout=15_000)
    page.evaluate(PROBE)
    baseline = _memory(cdp)
    busy_before = _busy(cdp)

    samples: list[dict[str, float]] = []
    waits: list[float] = []
    started = time.monotonic()
    sampled = -1e9
    while time.monotonic() - started < seconds:
        time.sleep(1.0)
        waits.append(_interact(page))
        # a sample every 3 s or so, and always the first (a loaded machine may manage only a few interactions)
        if time.monotonic() - sampled >= 3.0:
            sampled = time.monotonic()
            state = page.evaluate(
                "() => ({seq: window.__ccJob.nextSeq, chars: window.__ccJob.counters.chars,"
                " written: window.__ccJob.terminal.stats.written,"
                " skipped: window.__ccJob.terminal.stats.skippedLines})"
            )
            samples.append({"t": time.monotonic() - started, **state, **_memory(cdp)})

    # The job ends with "done <n>"; the page catches up with the tail and shows it (it may skip the middle).
    expect(page.locator("#job-state")).to_have_text("completed", timeout=120_000)
    deadline = time.monotonic() + 60
    last = ""
    while time.monotonic() < deadline:
        lines = page.evaluate("() => window.__ccJob.lines()")
        last = lines[-1] if lines else ""
        if last.startswith("done "):
            break
        time.sleep(0.25)
    caught_up = time.monotonic() - started - seconds
    busy = _busy_share(busy_before, _busy(cdp), time.monotonic() - started)
    produced = int(last.split()[1]) if last.startswith("done ") else 0
    end = _memory(cdp)
    figures = _probe_figures(page)
    stats = page.evaluate("() => window.__ccJob.terminal.stats")
    chars = page.evaluate("() => window.__ccJob.counters.chars")
    events = page.evaluate("() => window.__ccJob.counters.events")
    next_seq = page.evaluate("() => window.__ccJob.nextSeq")
    (summary,) = _call(srv, [("jobs.get", {"job_id": job_id})])
    job_next_seq = summary["next_seq"]
    dom_elements = page.evaluate("() => document.getElementsByTagName('*').length")
    figures.update(
        seconds=seconds,
        cpu_throttle=throttle,
        lines_produced=produced,
        lines_per_second=round(produced / seconds),
        mb_received=round(chars / 1e6, 1),
        mb_drawn=round(stats["written"] / 1e6, 1),
        lines_skipped_in_page=stats["skippedLines"],
        events_skipped=stats["skippedEvents"],
        events_never_received=stats["unreceivedEvents"],
        mb_skipped=round(stats["skippedChars"] / 1e6, 1),
        skips=len(stats["skips"]),
        tail_shown_after_end_s=round(caught_up, 2),
        main_thread_share=busy,
        playwright_click_type_s={"p50": round(statistics.median(waits), 3), "max": round(max(waits), 3)},
        heap_mb={"baseline": round(baseline["heap_mb"], 1), "max": round(max(s["heap_mb"] for s in samples), 1)},
        heap_mb_end=round(end["heap_mb"], 1),
        nodes={"baseline": baseline["nodes"], "max": max(s["nodes"] for s in samples), "end": end["nodes"]},
        dom_elements_end=dom_elements,
        samples=samples,
    )
    _report(f"follow_100k_lines_per_second_cpu_{throttle}x", figures)

    assert last.startswith("done "), f"the page never showed the job's last line (last: {last!r})"
    # The job ran near its rate, and every output event reached the page or was skipped with a notice.
    assert produced >= LINES_PER_SECOND * seconds * 0.8
    # (Events the page dropped from its draw queue were received; those it skipped on the server's side were not.)
    assert events + stats["unreceivedEvents"] == next_seq == job_next_seq
    if not stats["skips"]:
        assert chars == produced * 61 + len(f"done {produced}\n")
    # Responsive: timers kept running and input was answered (generous: a loaded 2-core machine).
    # A tab whose CPU is throttled 6x runs every timer that much later; a loaded CI machine adds to both.
    slack = throttle
    assert figures["timer_lateness_ms"]["p99"] < 1000 * slack
    assert figures["input_to_paint_ms"]["max"] < 2000 * slack
    assert max(waits) < 30 * slack
    # Bounded: heap and DOM at the end are near where they were after the first seconds, not growing with output.
    first = samples[0]
    assert end["heap_mb"] < first["heap_mb"] + 40 and end["heap_mb"] < 200
    assert end["nodes"] < first["nodes"] * 2 + 500
    if throttle > 1:
        # It could not draw everything: it skipped (and said so on the page) rather than fall behind.
        assert stats["skippedEvents"] > 0
        expect(page.locator("#skip-banner")).to_be_visible()


def test_two_hundred_updating_jobs_in_the_table_stay_smooth(
    browser: Browser, srv: ServerProcess, tmp_path: Path
) -> None:
    page = logged_in_page(browser, srv, TOKEN)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable")
    page.evaluate(PROBE)
    baseline = _memory(cdp)
    ticks = int((SECONDS + 120) / 0.3)  # longer than the test: they are cancelled at its end
    # One Python process per job, sleeping between lines (a shell loop would fork a `sleep` 667 times a second
    # and load the 2-core machine more than the page does).
    ticker = tmp_path / "ticker.py"
    ticker.write_text(TICKER)
    command = f"{sys.executable} {ticker} {ticks} 0.3"
    started = time.monotonic()
    jobs = _call(srv, [("execute", {"command": command, "detach": True, "labels": {"n": str(i)}}) for i in range(200)])
    ids = [j["job_id"] for j in jobs]
    rows = page.locator("table#jobs tbody tr[data-job-id]")
    expect(rows).to_have_count(200, timeout=30_000)
    listed = time.monotonic() - started
    # From here on the jobs only update: measure that (200 process starts on 2 cores are not the page's doing,
    # and on a loaded CI machine the last of them prints its first line many seconds after its row appeared).
    page.wait_for_function(
        "() => [...document.querySelectorAll('table#jobs tbody tr[data-job-id] td.output')]"
        ".every(td => td.textContent && td.textContent !== '0 B')",
        timeout=90_000,
        polling=500,
    )
    printing = time.monotonic() - started
    time.sleep(1.0)
    page.evaluate(RESET_PROBE)
    busy_before = _busy(cdp)
    updating = time.monotonic()

    # Every row's output cell changes while the jobs run: how long until all 200 showed new output.
    read_output = 'ids => ids.map(id => document.querySelector(`tr[data-job-id="${id}"] td.output`)?.textContent)'
    waits: list[float] = []
    first = page.evaluate(read_output, ids)
    reading = time.monotonic()
    changed = 0
    while time.monotonic() - reading < 30:
        time.sleep(1.0)
        waits.append(_interact(page))
        now = page.evaluate(read_output, ids)
        changed = sum(1 for a, b in zip(first, now, strict=True) if a != b)
        if changed == len(ids):
            break
    all_changed_within = time.monotonic() - reading
    while time.monotonic() - updating < SECONDS - 2:
        time.sleep(1.0)
        waits.append(_interact(page))
    figures = _probe_figures(page)
    busy = _busy_share(busy_before, _busy(cdp), time.monotonic() - updating)
    mid = _memory(cdp)
    _call(srv, [("control", {"job_id": job_id, "type": "CANCEL"}) for job_id in ids])
    states = page.locator("table#jobs tbody tr[data-job-id] td.state")
    expect(states.filter(has_text="cancelled")).to_have_count(200, timeout=120_000)
    end = _memory(cdp)
    figures.update(
        seconds=SECONDS,
        jobs=200,
        rows_listed_after_s=round(listed, 2),
        every_row_printing_after_s=round(printing, 2),
        rows_whose_output_changed=changed,
        all_rows_changed_within_s=round(all_changed_within, 2),
        main_thread_share=busy,
        playwright_click_type_s={"p50": round(statistics.median(waits), 3), "max": round(max(waits), 3)},
        heap_mb={
            "baseline": round(baseline["heap_mb"], 1),
            "running": round(mid["heap_mb"], 1),
            "end": round(end["heap_mb"], 1),
        },
        nodes={"baseline": baseline["nodes"], "running": mid["nodes"], "end": end["nodes"]},
    )
    _report("table_200_jobs", figures)

    assert changed == 200, f"only {changed} of 200 rows showed new output within 30 s"
    assert figures["timer_lateness_ms"]["p99"] < 1000
    assert figures["input_to_paint_ms"]["max"] < 2000
    assert max(waits) < 30
    assert end["heap_mb"] < 200
