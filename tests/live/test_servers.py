"""Several `brain serve` processes on one vault (Claude Desktop and Cursor each start one), `brain
ingest` beside them, and servers stopped by a signal: real processes, real mcp clients, real DuckDB."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters

from brain.ingest.paths import ingest_paths
from brain.live.control import running_server, server_file
from brain.store.shared import open_store

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]
BRAIN = str(Path(sys.executable).parent / "brain")


def _serve(vault: Path) -> StdioServerParameters:
    """`brain serve --vault V` as docs/mcp.md configures it: the store in the vault's .brain/."""
    return StdioServerParameters(command=BRAIN, args=["serve", "--vault", str(vault)])


async def _spend(client: Client) -> float:
    r = await client.call_tool("agent_costs", {"name": "Support Agent", "days": 30})
    assert not r.is_error, r.content[0].text
    return r.structured_content["spend_usd"]


async def _all_see(wait, clients: list[Client], above: float) -> bool:
    """Every client sees more than `above` spent (polled: each server picks the new data up on its own)."""

    async def seen():
        return all([await _spend(c) > above for c in clients])

    return bool(await wait(seen, 60.0))


async def test_second_server_on_one_vault_answers_and_every_server_sees_each_ingest(tmp_path, make_company, usage_file, ingest, wait):
    vault = make_company(tmp_path / "vault")
    store = vault / ".brain" / "usage.duckdb"
    files = [usage_file(tmp_path / f"u{i}.parquet", 2_000, prefix=f"u{i}") for i in range(4)]
    async with anyio.create_task_group() as tg:
        leave = anyio.Event()
        first = await tg.start(_client_until, _serve(vault), leave)  # its own task: it leaves first
        owner = running_server(store)
        assert owner is not None
        async with Client(_serve(vault)) as second:  # used to wait 60 s, then exit: store locked
            assert await _spend(first) == 0 and await _spend(second) == 0
            # brain ingest hands the files to the server that announced itself; the other one
            # notices the new data on its own and tells its clients
            async with second.listen(resource_subscriptions=["brain://leaderboard"]) as updates:
                r = ingest(vault, store, files[0])
                assert r.returncode == 0 and json.loads(r.stdout)["accepted"] == 2_000, r.stderr
                assert f"running server (pid {owner['pid']})" in r.stderr
                with anyio.fail_after(60):
                    assert (await updates.__anext__()).uri == "brain://leaderboard"
            assert await _all_see(wait, [first, second], 0.0)
            spent = await _spend(first)
            # a CLI reader beside both
            s = subprocess.run([BRAIN, "spend", "--vault", str(vault), "--json"], capture_output=True, text=True, timeout=120)
            assert s.returncode == 0 and json.loads(s.stdout)["total_usd"] > 0, s.stderr
            # a writer of its own (what `brain ingest` does with no server announced) gets the file too
            with open_store(store) as direct:
                assert ingest_paths(direct, [str(files[1])])["accepted"] == 2_000
            assert await _all_see(wait, [first, second], spent)
            spent = await _spend(second)
            # the announcing server leaves: the other takes over the hand-offs
            leave.set()
            took_over = await wait(lambda: _announced_other_than(store, owner["pid"]), 30.0)
            assert took_over, "the remaining server did not take over"
            r = ingest(vault, store, files[2])
            assert r.returncode == 0 and f"running server (pid {took_over['pid']})" in r.stderr, r.stderr
            assert await _all_see(wait, [second], spent)
        # a third server starting beside nobody: the store opens at once and keeps its data
        async with Client(_serve(vault)) as third:
            assert await _spend(third) > spent


async def _client_until(params: StdioServerParameters, leave: anyio.Event, *, task_status=anyio.TASK_STATUS_IGNORED) -> None:
    """A connected client, handed to the starting task, closed when `leave` is set."""
    async with Client(params) as client:
        task_status.started(client)
        await leave.wait()


async def _announced_other_than(store: Path, pid: int) -> dict | None:
    info = running_server(store)
    return info if info is not None and info["pid"] != pid else None


def _wait_announced(store: Path, proc: subprocess.Popen) -> dict:
    deadline = time.monotonic() + 60
    while (info := running_server(store)) is None or info["pid"] != proc.pid:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else "server exited"
        assert time.monotonic() < deadline, "server never announced itself"
        time.sleep(0.05)
    return info


@pytest.mark.parametrize(
    ("transport", "signum"), [("stdio", signal.SIGTERM), ("stdio", signal.SIGINT), ("http", signal.SIGTERM)]
)
def test_a_signal_stops_the_server_cleanly_and_withdraws_its_server_file(tmp_path, transport, signum, make_company, free_port):
    vault = make_company(tmp_path / "vault")
    store = tmp_path / "u.duckdb"
    args = [BRAIN, "serve", "--vault", str(vault), "--store", str(store)]
    if transport == "http":
        args += ["--http", "--port", str(free_port())]
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_announced(store, proc)
        proc.send_signal(signum)
        assert proc.wait(timeout=60) == 128 + signum
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not server_file(store).exists()
    assert "Traceback" not in proc.stderr.read().decode()


def test_ingest_treats_a_stale_server_file_as_no_server(tmp_path, make_company, usage_file, ingest, free_port):
    """A server killed without cleanup leaves server.json; once its pid is reused (here: this test's
    own pid) `brain ingest` must not try the dead port: it writes directly and says why."""
    vault = make_company(tmp_path / "vault")
    store = tmp_path / "u.duckdb"
    f = server_file(store)
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text(json.dumps({"pid": os.getpid(), "port": free_port(), "token": "gone", "store": str(store)}))
    r = ingest(vault, store, usage_file(tmp_path / "x.parquet", 1_000))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["accepted"] == 1_000
    assert "is gone" in r.stderr and "cannot reach" not in r.stderr and "running server" not in r.stderr
    # a server started now announces itself in its place
    proc = subprocess.Popen([BRAIN, "serve", "--vault", str(vault), "--store", str(store), "--http", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert _wait_announced(store, proc)["pid"] == proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    assert not f.exists()


def test_ingest_does_not_hand_off_to_a_server_that_does_not_answer(tmp_path, make_company, usage_file, ingest):
    """A suspended server (Ctrl-Z, SIGSTOP) keeps its port open but never answers: `brain ingest`
    must write directly instead of waiting an hour for it."""
    import socket

    vault = make_company(tmp_path / "vault")
    store = tmp_path / "u.duckdb"
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # connections queue up; nothing ever answers
        f = server_file(store)
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(json.dumps({"pid": os.getpid(), "port": silent.getsockname()[1], "token": "t", "store": str(store)}))
        assert running_server(store) is not None  # merely slow, for servers deciding who takes hand-offs
        assert running_server(store, slow_is_gone=True) is None
        r = ingest(vault, store, usage_file(tmp_path / "x.parquet", 1_000))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["accepted"] == 1_000 and "does not answer" in r.stderr
