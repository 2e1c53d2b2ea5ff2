"""The MCP tools over streamable HTTP: ``create_mcp_http`` mounted in a FastAPI app served by uvicorn."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from conftest import free_port
from fastapi import FastAPI
from mcp import Client
from mcp_helpers import data, error_text

from cc_executor.config import load_settings
from cc_executor.executor import Executor
from cc_executor.mcp.http import MCP_PATH, create_mcp_http


def build_app(state_dir: Path) -> FastAPI:
    """Mounted the way ``server/app.py`` mounts it: a route at /mcp and the lifespan nested in the app's."""
    executor = Executor(load_settings(state_dir=state_dir, allowed_commands=["echo", "sleep"]))
    mcp_http = create_mcp_http(executor)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await executor.start()
        try:
            async with mcp_http.lifespan():
                yield
        finally:
            await executor.shutdown()

    app = FastAPI(lifespan=lifespan)
    app.add_route(MCP_PATH, mcp_http.app, methods=["GET", "POST", "DELETE"])
    app.get("/health")(lambda: {"status": "healthy"})
    return app


@pytest.fixture
def mcp_url(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    config = uvicorn.Config(build_app(tmp_path / "state"), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.05)
    else:
        pytest.fail("uvicorn did not start")
    yield f"http://127.0.0.1:{port}{MCP_PATH}"
    server.should_exit = True
    thread.join(20)


async def test_tools_over_streamable_http(mcp_url: str) -> None:
    progress: list[float] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    async with Client(mcp_url, read_timeout_seconds=60) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert {"execute", "wait_job", "run_tasks", "read_output"} <= names

        done = data(await client.call_tool("execute", {"command": "echo over http"}))
        assert (done["status"], done["stdout_tail"]) == ("completed", "over http\n")

        slow = data(
            await client.call_tool(
                "execute", {"command": "sleep 2.5; echo late", "wait_seconds": 20}, progress_callback=on_progress
            )
        )
        assert slow["stdout_tail"] == "late\n" and progress

        refused = await client.call_tool("execute", {"command": "ls"})
        assert "allow-list" in error_text(refused)

        resource = await client.read_resource(f"job://{done['job_id']}/output")
        assert resource.contents[0].text == "over http\n"  # type: ignore[union-attr]
