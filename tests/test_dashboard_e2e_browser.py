"""The dashboard in a real headless Chromium against a real server: log in, a job started through the API shows
up in the table, its output streams, cancel from the page ends it with no process left, a reload replays the
whole output, a wrong token is refused, and the page will not load in a frame."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import psutil
import pytest
from conftest import ServerFactory, ServerProcess
from dashboard_support import api_call, browser, logged_in_page, open_dashboard, wait_lines
from playwright.sync_api import Browser, expect

__all__ = ["browser"]  # the fixture, imported for the tests below

pytestmark = pytest.mark.xdist_group("dashboard_browser")

TOKEN = "browser-test-token"


@pytest.fixture
def srv(make_server: ServerFactory) -> Iterator[ServerProcess]:
    yield make_server(CC_EXECUTOR_TOKEN=TOKEN)


def _call(srv: ServerProcess, method: str, **params: Any) -> Any:
    return api_call(srv, TOKEN, method, **params)


def _start(srv: ServerProcess, command: str) -> dict[str, Any]:
    return dict(_call(srv, "execute", command=command, detach=True))


def test_login_then_a_new_job_appears_and_streams(browser: Browser, srv: ServerProcess) -> None:
    page = logged_in_page(browser, srv, TOKEN)
    # The token stays in this tab's session storage, never in the URL.
    assert TOKEN not in page.url
    assert page.evaluate("() => sessionStorage.getItem('cc-executor.token')") == TOKEN
    started = time.monotonic()
    job = _start(srv, "for i in $(seq 1 30); do echo line $i; sleep 0.1; done")
    row = page.locator(f'table#jobs tbody tr[data-job-id="{job["job_id"]}"]')
    expect(row).to_be_visible(timeout=5_000)
    appeared = time.monotonic() - started
    print(f"job row visible {appeared:.2f} s after execute was sent")
    assert appeared < 2.0 + 1.0  # the 2 s, with the execute round trip and a loaded CI machine
    row.click()
    expect(page.locator(f'#job[data-job-id="{job["job_id"]}"]')).to_be_visible(timeout=10_000)
    lines = wait_lines(page, [f"line {i}" for i in range(1, 31)])
    assert lines == [f"line {i}" for i in range(1, 31)]
    expect(page.locator("#job-state")).to_have_text("completed", timeout=10_000)
    page.locator("a[data-nav=jobs]").click()
    expect(row.locator("td.state")).to_have_text("completed", timeout=10_000)


def test_cancel_from_the_page_leaves_no_process(browser: Browser, srv: ServerProcess) -> None:
    job = _start(srv, "echo ready; sleep 300 & wait")
    page = logged_in_page(browser, srv, TOKEN, f"/#/job/{job['job_id']}")
    expect(page.locator(f'#job[data-job-id="{job["job_id"]}"]')).to_be_visible(timeout=10_000)
    assert wait_lines(page, ["ready"]) == ["ready"]
    tree = [psutil.Process(job["pid"]), *psutil.Process(job["pid"]).children(recursive=True)]
    assert len(tree) >= 2
    cancel = page.locator("button[data-action=cancel]")
    expect(cancel).to_be_enabled(timeout=10_000)
    page.once("dialog", lambda dialog: dialog.accept())  # a confirm() before cancelling, if the page asks
    cancel.click()
    expect(page.locator("#job-state")).to_have_text("cancelled", timeout=15_000)
    _, alive = psutil.wait_procs(tree, timeout=15)
    assert alive == []
    assert _call(srv, "jobs.get", job_id=job["job_id"])["state"] == "cancelled"


def test_reload_mid_job_replays_the_whole_output(browser: Browser, srv: ServerProcess) -> None:
    job = _start(srv, "for i in $(seq 1 40); do printf 'row %03d \\033[32mgreen\\033[0m\\n' $i; sleep 0.1; done")
    page = logged_in_page(browser, srv, TOKEN, f"/#/job/{job['job_id']}")
    expect(page.locator(f'#job[data-job-id="{job["job_id"]}"]')).to_be_visible(timeout=10_000)
    assert wait_lines(page, [f"row {i:03d} green" for i in range(1, 6)])[:5] == [
        f"row {i:03d} green" for i in range(1, 6)
    ]
    page.reload()  # the session storage survives a reload of the tab: no new login
    expect(page.locator(f'#job[data-job-id="{job["job_id"]}"]')).to_be_visible(timeout=15_000)
    want = [f"row {i:03d} green" for i in range(1, 41)]
    assert wait_lines(page, want, within=30) == want  # once each, in order, nothing missing
    expect(page.locator("#job-state")).to_have_text("completed", timeout=15_000)


def test_wrong_token_is_refused(browser: Browser, srv: ServerProcess) -> None:
    page = open_dashboard(browser, srv)
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    page.fill("#token", "not-the-token")
    page.locator("#login-form").evaluate("form => form.requestSubmit()")
    expect(page.locator("#login-error")).to_contain_text("Wrong token", timeout=10_000)
    expect(page.locator("table#jobs")).not_to_be_visible()
    assert page.evaluate("() => sessionStorage.getItem('cc-executor.token')") in (None, "")
    assert srv.health()["active_sessions"] == 0
    assert all("not-the-token" not in url for url in sockets)


def test_the_page_refuses_to_load_in_a_frame(browser: Browser, srv: ServerProcess) -> None:
    """A page of another origin frames the dashboard: the browser must not render it (frame-ancestors 'none')."""
    context = browser.new_context()
    page = context.new_page()
    blocked: list[str] = []
    page.on("console", lambda message: blocked.append(message.text))
    page.set_content(f'<iframe id="f" src="{srv.http}/" width="800" height="600"></iframe>')
    page.wait_for_timeout(2_000)
    frame = page.frame_locator("#f")
    assert frame.locator("#login-form").count() == 0
    assert frame.locator("table#jobs").count() == 0
    child = next((f for f in page.frames if f is not page.main_frame), None)
    assert (
        child is None
        or child.url in ("", "about:blank", "chrome-error://chromewebdata/")
        or not child.content().count("login-form")
    )
    context.close()


def test_every_request_goes_to_this_server_and_the_csp_refuses_nothing_else(
    browser: Browser, srv: ServerProcess
) -> None:
    """No third-party request from any view, and the only CSP refusals are xterm's <style> elements (their rules
    are applied through a constructed stylesheet instead: docs/dashboard.md, "Libraries")."""
    job = _start(srv, "printf '\\033[31mred\\033[0m\\n'; echo plain")
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    requests: list[str] = []
    console: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.on("websocket", lambda ws: requests.append(ws.url))
    page.on("console", lambda message: console.append(message.text))
    page.goto(f"{srv.http}/")
    page.fill("#token", TOKEN)
    page.locator("#login-form").evaluate("form => form.requestSubmit()")
    expect(page.locator("a[data-nav=jobs]")).to_be_visible(timeout=15_000)
    for view, ready in (
        ("attention", "#attention"),
        ("history", "#history-chart"),
        ("health", "#health-chart"),
        (f"job/{job['job_id']}", "#output"),
        ("jobs", "table#jobs"),
    ):
        page.evaluate("hash => { location.hash = hash; }", f"#/{view}")
        expect(page.locator(ready)).to_be_attached(timeout=10_000)
        page.wait_for_timeout(500)
    origins = {"/".join(url.split("/")[:3]) for url in requests}
    assert origins <= {srv.http, srv.http.replace("http://", "ws://")}, origins
    assert any(url.endswith("/dashboard/static/js/app.js") for url in requests)
    refused = [text for text in console if "Content Security Policy" in text]
    assert all("style" in text for text in refused), refused
    context.close()
