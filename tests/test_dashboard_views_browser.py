"""The dashboard's attention, history and health views in a real headless Chromium against a real server.

Jobs are started through the API (a raw WebSocket client, tests/rpc_client.py) on an asyncio loop in a thread of
its own, so a permission request can wait for its answer while the browser gives it. Waits are generous; figures
are printed, not asserted.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest
from conftest import ServerFactory, ServerProcess
from dashboard_support import browser, logged_in_page, screenshot  # noqa: F401 - the browser fixture
from playwright.sync_api import Browser, Page, expect
from rpc_client import RpcClient

pytestmark = pytest.mark.xdist_group("dashboard_browser")

TOKEN = "views-test-token-0123"
T = TypeVar("T")


class Api:
    """One authenticated connection on a loop of its own thread (Playwright's sync API owns the test's thread)."""

    def __init__(self, srv: ServerProcess) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        headers = {"Authorization": f"Bearer {TOKEN}"}
        self.rpc: RpcClient = self.run(RpcClient.connect(srv.url, additional_headers=headers))

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, method: str, **params: Any) -> Any:
        return self.run(self.rpc.call(method, **params))

    def close(self) -> None:
        try:
            self.run(self.rpc.close(), 10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)


@pytest.fixture
def srv(make_server: ServerFactory) -> ServerProcess:
    return make_server(CC_EXECUTOR_TOKEN=TOKEN)


@pytest.fixture
def api(srv: ServerProcess) -> Iterator[Api]:
    client = Api(srv)
    try:
        yield client
    finally:
        client.close()


def open_view(browser: Browser, srv: ServerProcess, view: str) -> tuple[Page, list[str]]:  # noqa: F811
    """A logged-in tab on ``#/<view>``, and the list its uncaught script errors go to."""
    page = logged_in_page(browser, srv, TOKEN)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.evaluate("hash => { location.hash = hash; }", f"#/{view}")
    return page, errors


def canvas_ink(page: Page, selector: str) -> int:
    """How many pixels of the chart's canvas are painted (not transparent)."""
    return int(
        page.evaluate(
            """sel => {
                const c = document.querySelector(sel + ' canvas');
                if (!c || !c.width) return 0;
                const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                let n = 0;
                for (let i = 3; i < d.length; i += 4) if (d[i]) n++;
                return n;
            }""",
            selector,
        )
    )


def test_attention_lists_stalled_and_failed_jobs_and_answers_a_permission_request(
    browser: Browser,  # noqa: F811
    srv: ServerProcess,
    api: Api,
) -> None:
    stalled = api.call("execute", command="sleep 40", idle_timeout=1, detach=True)["job_id"]
    failed = api.call("execute", command="exit 3", detach=True)["job_id"]
    page, errors = open_view(browser, srv, "attention")
    started = time.monotonic()
    stalled_item = page.locator(f'#attention [data-kind="stalled"][data-job-id="{stalled}"]')
    failed_item = page.locator(f'#attention [data-kind="failed"][data-job-id="{failed}"]')
    expect(stalled_item).to_be_visible(timeout=20_000)
    expect(stalled_item.locator(".reason")).to_contain_text("no output for 1 s")
    expect(failed_item).to_be_visible(timeout=20_000)
    expect(failed_item.locator(".reason")).to_contain_text("exit code 3")
    expect(failed_item.locator(f'a[href="#/job/{failed}"]')).to_be_visible()
    print(f"stalled and failed jobs listed {time.monotonic() - started:.2f} s after the view opened")

    # A permission request asked over a second connection (as `cc-executor mcp` does inside a job).
    asked = asyncio.run_coroutine_threadsafe(
        api.rpc.call(
            "permission.ask",
            job_id=stalled,
            tool_name="Bash",
            input={"command": "touch /tmp/<b>not-html</b>"},
            rpc_timeout=60,
        ),
        api.loop,
    )
    request = page.locator(f'#attention [data-kind="permission"][data-job-id="{stalled}"]')
    expect(request).to_be_visible(timeout=20_000)
    expect(request.locator("pre.tool-input")).to_contain_text("<b>not-html</b>")  # shown as text, not markup
    assert page.locator("#attention pre.tool-input b").count() == 0
    screenshot(page, "dashboard-attention.png")
    request.locator('button[data-action="allow"]').click()
    answer = asked.result(30)
    assert answer["behavior"] == "allow"
    expect(request).to_have_count(0, timeout=15_000)

    # Dismissing an ended job hides it for this tab.
    failed_item.locator('button[data-action="dismiss"]').click()
    expect(failed_item).to_have_count(0, timeout=5_000)
    expect(page.locator('#attention button[data-action="undismiss"]')).to_be_visible()
    api.call("control", job_id=stalled, type="CANCEL")
    assert errors == []


def test_history_draws_durations_with_the_learned_timeout(
    browser: Browser,  # noqa: F811
    srv: ServerProcess,
    api: Api,
) -> None:
    command = "sleep 0.1"
    ids = [api.call("execute", command=command, detach=True)["job_id"] for _ in range(6)]
    for job_id in ids:
        api.run(api.rpc.call("jobs.wait", job_id=job_id, timeout=30, rpc_timeout=40), 45)
    estimate = api.call("estimate", command=command)
    print(f"estimate: {estimate['timeout']} s ({estimate['timeout_source']}): {estimate['rule']}")
    page, errors = open_view(browser, srv, "history")
    page.fill("#history-command", command)
    page.press("#history-command", "Enter")
    chart = page.locator("#history-chart")
    expect(chart).to_have_attribute("data-drawn", "true", timeout=20_000)
    expect(chart).to_have_attribute("data-runs", "6")
    expect(chart.locator("canvas")).to_have_count(1)
    expect(page.locator('#history-estimate [data-field="description"]')).to_contain_text(
        'learned from 6 runs of "sleep 0.1"'
    )
    expect(page.locator('#history-estimate [data-field="timeout"]')).to_contain_text("(history)")
    expect(page.locator('#history-estimate [data-field="rule"]')).to_contain_text("p95")
    assert float(chart.get_attribute("data-timeout") or "nan") == pytest.approx(estimate["timeout"])
    assert canvas_ink(page, "#history-chart") > 1000
    expect(page.locator("#history-runs tbody tr")).to_have_count(6)
    expect(page.locator(f'#history-runs tbody tr[data-job-id="{ids[0]}"] td.state')).to_have_text("completed")
    screenshot(page, "dashboard-history.png")
    assert errors == []


def test_health_draws_the_resource_series(
    browser: Browser,  # noqa: F811
    srv: ServerProcess,
    api: Api,
) -> None:
    api.call("execute", command="sleep 20", labels={"task_list": "nightly"}, detach=True)
    done = api.call("execute", command="true", labels={"task_list": "nightly"}, detach=True)["job_id"]
    api.run(api.rpc.call("jobs.wait", job_id=done, timeout=30, rpc_timeout=40), 45)
    series = api.call("server.resources", seconds=3600)
    print(f"server.resources: interval {series['interval']} s, {len(series['samples'])} sample(s)")
    page, errors = open_view(browser, srv, "health")
    expect(page.locator('#health-status [data-field="status"]')).to_have_text("healthy", timeout=15_000)
    expect(page.locator('#health-status [data-field="running_jobs"]')).to_have_text("1")
    chart = page.locator("#health-chart")
    expect(chart).to_have_attribute("data-drawn", "true", timeout=30_000)
    expect(chart.locator("canvas")).to_have_count(1)
    assert canvas_ink(page, "#health-chart") > 1000
    task_list = page.locator('#health-tasks [data-list="task_list:nightly"]')
    expect(task_list.locator(".task-list-done")).to_have_text("1/2 done", timeout=15_000)
    expect(task_list.locator(".progress .seg")).to_have_count(2)
    # The series grows while the page is open (a pull every 5 s, a point every 5 s).
    first = int(chart.get_attribute("data-samples") or "0")
    page.wait_for_function(
        "n => Number(document.querySelector('#health-chart').dataset.samples) > n", arg=first, timeout=30_000
    )
    print(f"health chart: {first} point(s) at first, then {chart.get_attribute('data-samples')}")
    screenshot(page, "dashboard-health.png")
    assert errors == []
