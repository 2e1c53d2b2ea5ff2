"""A real headless Chromium for the dashboard's browser tests (Playwright, with Debian's ``chromium``).

Playwright's own browser downloads are not used: CI installs the system package (``.ci/run``), and a test run
here must not fetch anything. ``CC_EXECUTOR_CHROMIUM`` names another binary.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from conftest import ServerProcess
from playwright.sync_api import Browser, Page, expect, sync_playwright
from rpc_client import RpcClient

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


def chromium_path() -> str | None:
    """The Chromium binary to drive: ``CC_EXECUTOR_CHROMIUM``, else the first of the usual names on PATH."""
    named = os.environ.get("CC_EXECUTOR_CHROMIUM")
    if named:
        return named
    for name in CHROMIUM_NAMES:
        if (found := shutil.which(name)) is not None:
            return found
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium per test module (a launch costs about a second); each test opens its own context."""
    path = chromium_path()
    if path is None:
        pytest.fail("no Chromium found: install Debian's chromium package (apt-get install -y chromium)")
    with sync_playwright() as p:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        launched = p.chromium.launch(executable_path=path, args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            yield launched
        finally:
            launched.close()


def open_dashboard(browser: Browser, srv: ServerProcess, path: str = "/") -> Page:
    """A new tab (its own context: its own session storage) on the dashboard of ``srv``."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto(f"{srv.http}{path}")
    return page


def logged_in_page(browser: Browser, srv: ServerProcess, token: str | None, path: str = "/") -> Page:
    """A tab past the login page (when the server has a token), showing ``path``'s view."""
    page = open_dashboard(browser, srv, path)
    if token is not None:
        page.fill("#token", token)
        page.locator("#login-form").evaluate("form => form.requestSubmit()")
    expect(page.locator("a[data-nav=jobs]")).to_be_visible(timeout=15_000)
    expect(page.locator("#login-form")).not_to_be_visible(timeout=15_000)
    return page


def api_calls(srv: ServerProcess, token: str, calls: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    """Requests sent together on one connection of their own (a job started here should be detached: it outlives
    the connection), in a thread: Playwright's sync API keeps an event loop running in the test's."""

    async def go() -> list[Any]:
        async with await RpcClient.connect(f"{srv.url}?token={token}") as client:
            return list(await asyncio.gather(*(client.call(m, rpc_timeout=120, **p) for m, p in calls)))

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, go()).result()


def api_call(srv: ServerProcess, token: str, method: str, **params: Any) -> Any:
    """One request on a connection of its own (see ``api_calls``)."""
    return api_calls(srv, token, [(method, params)])[0]


def terminal_lines(page: Page) -> list[str]:
    """The job page's terminal, one string per line (xterm's buffer: what the page shows)."""
    return list(page.evaluate("() => window.__ccJob ? window.__ccJob.lines() : []"))


def wait_lines(page: Page, want: list[str], within: float = 20.0) -> list[str]:
    """The terminal's lines once they start with ``want`` (or what they were when ``within`` ran out)."""
    deadline = time.monotonic() + within
    lines: list[str] = []
    while time.monotonic() < deadline:
        lines = terminal_lines(page)
        if lines[: len(want)] == want:
            return lines
        time.sleep(0.1)
    return lines


def screenshot(page: Page, name: str) -> None:
    """Into $CC_EXECUTOR_DASHBOARD_SCREENSHOTS (e.g. docs/img) when set; nothing is written otherwise."""
    folder = os.environ.get("CC_EXECUTOR_DASHBOARD_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / name), full_page=True)
