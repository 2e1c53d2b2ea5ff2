"""Notifications through the real server: a real HTTP receiver gets signed webhooks for a job's events (the
signature recomputed here with ``hmac``), retried until it answers, including across a restart of the server
mid-delivery; a job's own ``notify`` target gets only its events; the command notifier gets the body on stdin;
``notifications.list`` and ``cc-executor notifications`` show each delivery's state; a bad ``notify`` is refused
with nothing run."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import pytest
from cli_support import cli, cli_env
from conftest import ServerFactory
from rpc_client import RpcCallError, RpcClient, completed
from webhook_receiver import Receiver, Recorded

SECRET = "webhook-secret-for-tests"
FAST_RETRY = {"CC_EXECUTOR_WEBHOOK_BACKOFF": "0.2", "CC_EXECUTOR_WEBHOOK_BACKOFF_MAX": "0.5"}


def signed(request: Recorded) -> dict[str, Any]:
    """The body of a request whose signature checks out with SECRET."""
    expected = "sha256=" + hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers["x-cc-executor-signature"], expected), request.headers
    body = json.loads(request.body)
    assert request.headers["x-cc-executor-delivery"] == body["delivery_id"]
    assert request.headers["x-cc-executor-event"] == body["event"]
    return dict(body)


async def until(check: Any, within: float = 30.0) -> Any:
    deadline = time.monotonic() + within
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError("not within time")
        await asyncio.sleep(0.1)


def parsed(path: Path) -> dict[str, Any] | None:
    """The JSON a command notifier wrote to ``path``, once it is there whole."""
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return None


async def deliveries(client: RpcClient, job_id: str, state: str, count: int) -> list[dict[str, Any]]:
    """The job's deliveries once ``count`` of them are in ``state`` (within 30 s)."""
    for _ in range(300):
        listed = await client.call("notifications.list", job_id=job_id, state=state)
        if len(listed) >= count:
            return list(listed)
        await asyncio.sleep(0.1)
    raise AssertionError(f"fewer than {count} {state} deliveries: {await client.call('notifications.list')}")


def events_of(receiver: Receiver, job_id: str) -> list[str]:
    return [json.loads(r.body)["event"] for r in receiver.received() if json.loads(r.body)["job_id"] == job_id]


async def test_a_job_s_events_arrive_signed_and_its_own_target_gets_only_what_it_asked_for(
    make_server: ServerFactory, receiver: Receiver
) -> None:
    own = Receiver()
    own.up()
    try:
        server = make_server(CC_EXECUTOR_WEBHOOKS=receiver.url, CC_EXECUTOR_WEBHOOK_SECRET=SECRET)
        async with await RpcClient.connect(server.url) as client:
            job = await client.call(
                "execute",
                command="echo hi; sleep 1.5; exit 3",
                idle_timeout=0.5,
                labels={"task": "t1"},
                notify=[{"url": own.url, "events": ["ended"]}],
            )
            assert completed(await client.collect_until_completed(job["job_id"]))["status"] == "failed"
            job_id = job["job_id"]
            await until(lambda: {"started", "stalled", "ended"} <= set(events_of(receiver, job_id)))
            await until(lambda: events_of(own, job_id) == ["ended"])
            bodies = {b["event"]: b for b in (signed(r) for r in receiver.received()) if b["job_id"] == job_id}
            ended = bodies["ended"]
            assert ended["data"]["status"] == "failed" and ended["data"]["exit_code"] == 3
            assert ended["data"]["duration"] > 1 and "reason" in ended["data"]
            assert ended["job"]["job_id"] == job_id and ended["job"]["labels"] == {"task": "t1"}
            assert ended["job"]["state"] == "failed" and "owner_session" not in ended["job"]
            assert bodies["started"]["data"]["pid"] == job["pid"]
            assert bodies["stalled"]["event"] == "stalled"
            assert receiver.received()[0].headers["user-agent"] == "cc-executor-webhook"
            assert signed(own.received()[0])["event"] == "ended"
            await asyncio.sleep(0.5)
            assert events_of(own, job_id) == ["ended"]  # and nothing else came later
            listed = await client.call("notifications.list", job_id=job_id)
            made = [d["event"] for d in listed]  # a stall each idle_timeout of silence; one start; one end per target
            assert (made.count("started"), made.count("ended"), set(made)) == (1, 2, {"started", "stalled", "ended"})
            assert all(d["state"] == "delivered" and d["attempts"] == 1 for d in listed)
            assert {d["target"] for d in listed} == {receiver.url, own.url}
    finally:
        own.stop()


async def test_deliveries_are_retried_and_survive_a_restart_of_the_server_mid_delivery(
    make_server: ServerFactory, receiver: Receiver
) -> None:
    receiver.always = 503  # the receiver is failing when the job ends
    server = make_server(CC_EXECUTOR_WEBHOOKS=json.dumps([{"url": receiver.url, "events": ["ended"]}]), **FAST_RETRY)
    async with await RpcClient.connect(server.url) as client:
        job = await client.call("execute", command="echo done")
        await client.collect_until_completed(job["job_id"])
        await until(lambda: len(receiver.received()) >= 2)  # tried, and tried again
        pending = await client.call("notifications.list", job_id=job["job_id"])
        assert [d["state"] for d in pending] == ["pending"] and pending[0]["last_status"] == 503
        assert "HTTP 503" in pending[0]["last_error"]
    assert server.terminate() == 0
    tries = len(receiver.received())
    receiver.always = 200
    server.start()
    await until(lambda: len(receiver.received()) > tries)
    first, last = receiver.received()[0], receiver.received()[-1]
    assert last.body == first.body  # the same delivery, byte for byte: the receiver can drop a repeat by its id
    assert last.headers["x-cc-executor-delivery"] == first.headers["x-cc-executor-delivery"]
    secret = (server.state_dir / "webhook_secret").read_text().strip()  # generated into the state dir
    expected = "sha256=" + hmac.new(secret.encode(), last.body, hashlib.sha256).hexdigest()
    assert last.headers["x-cc-executor-signature"] == expected
    async with await RpcClient.connect(server.url) as client:
        [delivered] = await deliveries(client, job["job_id"], "delivered", 1)
        assert delivered["attempts"] == len(receiver.received()) and delivered["last_status"] == 200


async def test_a_receiver_that_never_answers_ends_failed_and_the_job_is_not_held_up(
    make_server: ServerFactory, receiver: Receiver
) -> None:
    receiver.always = 500
    server = make_server(CC_EXECUTOR_WEBHOOKS=receiver.url, CC_EXECUTOR_WEBHOOK_MAX_ATTEMPTS="2", **FAST_RETRY)
    async with await RpcClient.connect(server.url) as client:
        job = await client.call("execute", command="echo quick")
        end = completed(await client.collect_until_completed(job["job_id"]))
        assert end["status"] == "completed"
        listed = await deliveries(client, job["job_id"], "failed", 2)
        assert {d["event"] for d in listed} == {"started", "ended"}
        assert all(d["attempts"] == 2 and d["last_status"] == 500 for d in listed)


async def test_the_command_notifier_gets_each_event_on_stdin(make_server: ServerFactory, tmp_path: Path) -> None:
    out = tmp_path / "notices"
    out.mkdir()
    command = f'env > "{out}/env-$CC_EXECUTOR_EVENT"; cat > "{out}/$CC_EXECUTOR_EVENT-$CC_EXECUTOR_JOB_ID.json"'
    token = "notify-command-token"
    server = make_server(CC_EXECUTOR_NOTIFY_COMMAND=command, CC_EXECUTOR_TOKEN=token)
    async with await RpcClient.connect(server.url, additional_headers={"Authorization": f"Bearer {token}"}) as client:
        job = await client.call("execute", command="echo x")
        await client.collect_until_completed(job["job_id"])
    ended = out / f"ended-{job['job_id']}.json"
    body = await until(lambda: parsed(ended))
    assert body["event"] == "ended" and body["data"]["status"] == "completed" and body["job_id"] == job["job_id"]
    assert (out / f"started-{job['job_id']}.json").exists()
    env = (out / "env-ended").read_text()
    assert f"CC_EXECUTOR_JOB_ID={job['job_id']}" in env  # the positive control
    assert token not in env and "CC_EXECUTOR_TOKEN" not in env and "CC_EXECUTOR_NOTIFY_COMMAND" not in env


async def test_a_bad_notify_is_refused_and_nothing_runs(make_server: ServerFactory, tmp_path: Path) -> None:
    server = make_server()
    marker = tmp_path / "ran"
    async with await RpcClient.connect(server.url) as client:
        for notify, said in (
            ([{"url": "ftp://example.com/x"}], "http"),
            ([{"url": "http://127.0.0.1:9/x", "events": ["finished"]}], "finished"),
            ([{"command": f"touch {marker}"}], "server only"),
        ):
            with pytest.raises(RpcCallError) as refused:
                await client.call("execute", command=f"touch {marker}", notify=notify)
            assert refused.value.code == -32602 and said in refused.value.message, refused.value.message
            assert refused.value.data["field"] == "notify"
    await asyncio.sleep(0.3)
    assert not marker.exists()


async def test_cc_executor_notifications_lists_deliveries(
    make_server: ServerFactory, receiver: Receiver, tmp_path: Path
) -> None:
    server = make_server(CC_EXECUTOR_WEBHOOKS=receiver.url)
    async with await RpcClient.connect(server.url) as client:
        job = await client.call("execute", command="echo x")
        await client.collect_until_completed(job["job_id"])
    await until(lambda: len(receiver.received()) >= 2)
    env = cli_env(server, tmp_path / "state")
    await asyncio.sleep(0.3)
    done = cli(env, "notifications", "--job", job["job_id"], "--json")
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)
    assert sorted(d["event"] for d in listed) == ["ended", "started"]
    table = cli(env, "notifications", "--job", job["job_id"])
    assert table.returncode == 0 and "delivered" in table.stdout and receiver.url in table.stdout
