"""Servers stopped by a signal, and the server file such a stop used to leave behind: real
processes, real DuckDB files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from brain.live import running_server, server_file
from tests.test_live import BRAIN, _ingest, _usage_file
from tests.test_mcp import make_company
from tests.test_mcp_e2e import free_port

pytestmark = pytest.mark.anyio


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
def test_a_signal_stops_the_server_cleanly_and_withdraws_its_server_file(tmp_path, transport, signum):
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


def test_ingest_treats_a_stale_server_file_as_no_server(tmp_path):
    """A server killed without cleanup leaves server.json; once its pid is reused (here: this test's
    own pid) `brain ingest` must not try the dead port: it writes directly and says why."""
    vault = make_company(tmp_path / "vault")
    store = tmp_path / "u.duckdb"
    f = server_file(store)
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text(json.dumps({"pid": os.getpid(), "port": free_port(), "token": "gone", "store": str(store)}))
    r = _ingest(vault, store, _usage_file(tmp_path / "x.parquet", 1_000))
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
