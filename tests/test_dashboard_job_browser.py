"""A job's page and the jobs table in a real headless Chromium against a real server: pause, resume and a signal
from the page reach the process tree; a line typed into stdin reaches an interactive job; stderr and ANSI colours
keep their colours in the terminal; jump to a seq and search; the table's state filter and search; and a real
Claude Code CLI run (against the mock Messages API) shows its agent summary and a readable view of its turns."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import psutil
import pytest
from anthropic_mock import ECHO_COMMAND, AnthropicMock
from claude_cli import claude_command, claude_env
from conftest import ServerFactory, ServerProcess
from dashboard_support import api_call, api_calls, browser, logged_in_page, screenshot, terminal_lines, wait_lines
from playwright.sync_api import Browser, Page, expect

__all__ = ["browser"]  # the fixture, imported for the tests below

pytestmark = pytest.mark.xdist_group("dashboard_browser")

TOKEN = "job-page-test-token"


@pytest.fixture
def srv(make_server: ServerFactory) -> ServerProcess:
    return make_server(CC_EXECUTOR_TOKEN=TOKEN)


def _start(srv: ServerProcess, command: str, **params: Any) -> dict[str, Any]:
    return dict(api_call(srv, TOKEN, "execute", command=command, detach=True, **params))


def _job_page(browser: Browser, srv: ServerProcess, job_id: str) -> Page:
    page = logged_in_page(browser, srv, TOKEN, f"/#/job/{job_id}")
    expect(page.locator(f'#job[data-job-id="{job_id}"]')).to_be_visible(timeout=15_000)
    return page


def _count_ticks(page: Page) -> int:
    return sum(1 for line in terminal_lines(page) if line.startswith("tick "))


def _eventually(check: Any, within: float = 15.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return bool(check())


def test_pause_resume_and_a_signal_from_the_page_reach_the_process(browser: Browser, srv: ServerProcess) -> None:
    job = _start(srv, "trap 'echo got USR1' USR1; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done")
    page = _job_page(browser, srv, job["job_id"])
    assert _eventually(lambda: _count_ticks(page) >= 3)
    shell = psutil.Process(job["pid"])

    page.locator("button[data-action=pause]").click()
    expect(page.locator("#job-state")).to_have_text("paused", timeout=10_000)
    assert _eventually(lambda: shell.status() == psutil.STATUS_STOPPED, 5)
    time.sleep(0.5)  # anything already on its way arrives
    before = _count_ticks(page)
    time.sleep(1.0)
    assert _count_ticks(page) == before  # stopped: no new line for a second (5 ticks' time)

    page.locator("button[data-action=resume]").click()
    expect(page.locator("#job-state")).to_have_text("running", timeout=10_000)
    assert _eventually(lambda: _count_ticks(page) >= before + 3)

    page.select_option("#signal-name", "USR1")
    page.locator("button[data-action=signal]").click()
    assert _eventually(lambda: "got USR1" in terminal_lines(page))
    assert shell.is_running()  # a trapped signal: the job goes on
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("button[data-action=cancel]").click()
    expect(page.locator("#job-state")).to_have_text("cancelled", timeout=15_000)


def test_stdin_from_the_page_reaches_an_interactive_job(browser: Browser, srv: ServerProcess) -> None:
    job = _start(srv, 'echo ready; while read -r line; do echo "you said: $line"; done; echo bye', interactive=True)
    page = _job_page(browser, srv, job["job_id"])
    assert wait_lines(page, ["ready"]) == ["ready"]
    expect(page.locator("#stdin-form")).to_be_visible(timeout=10_000)
    page.fill("#stdin", "hello from the page")
    page.press("#stdin", "Enter")
    said = ["ready", "you said: hello from the page"]
    assert wait_lines(page, said)[:2] == said
    page.locator("button[data-action=eof]").click()
    want = ["ready", "you said: hello from the page", "bye"]
    assert wait_lines(page, want) == want
    expect(page.locator("#job-state")).to_have_text("completed", timeout=10_000)


# The colour of the first cell of a terminal line: (palette index or -1 for the default, its mode).
CELL_COLOUR = """text => {
  const buf = window.__ccTerm.buffer.active;
  for (let i = 0; i < buf.length; i++) {
    const line = buf.getLine(i);
    if (line && line.translateToString(true).startsWith(text)) {
      const cell = line.getCell(0);
      return cell.isFgDefault() ? -1 : cell.getFgColor();
    }
  }
  return null;
}"""


def test_stderr_and_ansi_colours_jump_to_a_seq_and_search(browser: Browser, srv: ServerProcess) -> None:
    script = (
        "for i in $(seq 1 200); do echo \"line $i\"; done; echo 'an error line' >&2; sleep 0.3;"
        " printf '\\033[32mgreen words\\033[0m\\n'; sleep 0.3; echo 'needle in the output'; sleep 30"
    )
    job = _start(srv, script)
    page = _job_page(browser, srv, job["job_id"])
    assert _eventually(lambda: "needle in the output" in terminal_lines(page))
    lines = terminal_lines(page)
    assert lines[:200] == [f"line {i}" for i in range(1, 201)]
    assert lines[200:203] == ["an error line", "green words", "needle in the output"]
    assert page.evaluate(CELL_COLOUR, "an error line") == 1  # stderr: red
    assert page.evaluate(CELL_COLOUR, "green words") == 2  # the job's own ANSI green
    assert page.evaluate(CELL_COLOUR, "line 7") == -1  # plain stdout: the default colour
    screenshot(page, "dashboard-job.png")

    # Search finds a line in the scrollback and selects it.
    page.fill("#output-search", "needle")
    page.press("#output-search", "Enter")
    assert page.evaluate("() => window.__ccTerm.getSelection()").lower() == "needle"

    # Jump to a seq: the terminal starts over at that event.
    seqs = api_call(srv, TOKEN, "jobs.get", job_id=job["job_id"])["next_seq"]
    assert seqs >= 3
    page.fill("#jump-seq", str(seqs - 1))
    page.locator("button[data-action=jump-seq]").click()
    expect(page.locator("#output-status")).to_contain_text(f"from seq {seqs - 1}", timeout=10_000)

    # The last event holds the needle line (and whatever the server coalesced with it): a suffix of the whole.
    def from_last_event() -> bool:
        shown = terminal_lines(page)
        return 1 <= len(shown) <= 3 and shown == lines[-len(shown) :] and shown[-1] == "needle in the output"

    assert _eventually(from_last_event, 10), terminal_lines(page)

    # And back to the start: everything again, once.
    page.locator("button[data-action=jump-start]").click()
    assert _eventually(lambda: terminal_lines(page) == lines, 10)
    api_call(srv, TOKEN, "control", job_id=job["job_id"], type="CANCEL")


def test_the_jobs_table_filters_by_state_and_searches(browser: Browser, srv: ServerProcess) -> None:
    runs = [
        ("echo done", {}),
        ("exit 3", {}),
        ("sleep 30", {"labels": {"team": "needle-team"}}),
        ("sleep 30", {"group": "nightly", "labels": {"task_list": "nightly"}}),
        ("printf 'x%.0s' $(seq 1 5000); sleep 30", {}),
    ]
    api_call(srv, TOKEN, "groups.set", name="nightly", limit=4)
    jobs = api_calls(srv, TOKEN, [("execute", {"command": c, "detach": True, **p}) for c, p in runs])
    done, failed, labelled, grouped, chatty = (j["job_id"] for j in jobs)
    page = logged_in_page(browser, srv, TOKEN)
    rows = page.locator("table#jobs tbody tr[data-job-id]:visible")
    expect(rows).to_have_count(5, timeout=10_000)
    row = lambda job_id: page.locator(f'table#jobs tbody tr[data-job-id="{job_id}"]')  # noqa: E731
    expect(row(failed).locator("td.state")).to_have_text("failed", timeout=10_000)
    expect(row(done).locator("td.state")).to_have_text("completed", timeout=10_000)
    expect(row(grouped).locator("td.group")).to_have_text("nightly")
    expect(row(labelled).locator("td.labels")).to_contain_text("team=needle-team")
    expect(row(chatty).locator("td.output")).not_to_have_text("0 B", timeout=10_000)
    screenshot(page, "dashboard-jobs.png")

    page.select_option("#jobs-state", "failed")
    expect(rows).to_have_count(1)
    expect(row(failed)).to_be_visible()
    page.select_option("#jobs-state", "running")
    expect(rows).to_have_count(3)
    page.fill("#jobs-search", "needle")
    expect(rows).to_have_count(1)
    expect(row(labelled)).to_be_visible()
    page.select_option("#jobs-state", "all")
    page.fill("#jobs-search", "")
    expect(rows).to_have_count(5)
    api_calls(srv, TOKEN, [("control", {"job_id": j, "type": "CANCEL"}) for j in (labelled, grouped, chatty)])


@pytest.mark.usefixtures("claude_cli")
def test_a_claude_run_shows_its_agent_summary_and_turns(
    browser: Browser, srv: ServerProcess, anthropic_mock: AnthropicMock, tmp_path: Path
) -> None:
    job = _start(
        srv,
        claude_command("bash", "--allowedTools", "Bash"),
        env=claude_env(anthropic_mock, tmp_path),
        cwd=str(tmp_path),
        timeout=300,
    )
    page = _job_page(browser, srv, job["job_id"])
    expect(page.locator("#job-state")).to_have_text("completed", timeout=90_000)
    summary = page.locator("#agent-summary")
    expect(summary).to_be_visible(timeout=10_000)
    final = api_call(srv, TOKEN, "jobs.get", job_id=job["job_id"])["agent"]
    expect(summary).to_contain_text(final["session_id"])
    expect(summary).to_contain_text(str(final["model"]))
    expect(summary.locator("dt", has_text="Turns")).to_be_visible()

    page.locator("button[data-tab=agent]").click()
    view = page.locator("#agent-view")
    expect(view).to_be_visible()
    expect(view.locator(".agent-item.tool-call")).to_contain_text(ECHO_COMMAND, timeout=10_000)
    expect(view.locator(".agent-item.tool-result")).to_contain_text("mock-bash-ran")
    expect(view.locator(".agent-item.assistant").last).not_to_be_empty()
    screenshot(page, "dashboard-agent.png")
