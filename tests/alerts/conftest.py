"""Real receivers on 127.0.0.1 for real Apprise deliveries, and the alert tests' company.

Fixtures: `webhook` (a JSON webhook: records what it is sent; told to answer 500 or to hang past
the client's timeout for its next N requests), `smtp` (an aiosmtpd server taking login and mail
without TLS), `company` (a vault whose agents, owners and teams name channels, its graph and a
store), `anomaly` (an anomaly dict shaped as brain.anomaly.scan.Anomaly.to_dict()). Every test
here runs with no channel of the user's own: BRAIN_CHANNEL_* cleared, BRAIN_CHANNELS_FILE in tmp."""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

NOW = datetime(2026, 11, 18, 15, 30, tzinfo=UTC)  # a Wednesday afternoon

COMPANY = {
    "Agents/Support Agent.md": """\
        ---
        type: agent
        agent_id: support-agent
        owner: "[[Ada Lovelace]]"
        ---
        Answers customers.
        """,
    "Agents/Triage Bot.md": """\
        ---
        type: agent
        owner: "[[Grace Hopper]]"
        depends_on: ["[[Support Agent]]"]
        ---
        Routes tickets; needs the Support Agent.
        """,
    "Agents/Loud Agent.md": """\
        ---
        type: agent
        owner: "[[Ada Lovelace]]"
        notify: loud-hook
        ---
        Has its own channel.
        """,
    "Agents/Quiet Agent.md": """\
        ---
        type: agent
        owner: "[[Ada Lovelace]]"
        alerts: off
        ---
        Never alerts.
        """,
    "Agents/Orphan Agent.md": "---\ntype: agent\n---\nNobody owns this one.\n",
    "Agents/Team Agent.md": "---\ntype: agent\nowner: \"[[Research]]\"\n---\nOwned by a team.\n",
    "People/Ada Lovelace.md": "---\ntype: person\nteam: \"[[Platform]]\"\nnotify: ada-hook\n---\n",
    "People/Grace Hopper.md": "---\ntype: person\nteam: \"[[Platform]]\"\n---\n",
    "Teams/Platform.md": "---\ntype: team\nnotify: platform-hook\n---\n",
    "Teams/Research.md": "---\ntype: team\n---\n",
}


@pytest.fixture(autouse=True)
def no_channels_of_the_user(monkeypatch, tmp_path):
    """No channel from the environment or the user's config folder leaks into a test."""
    for name in list(os.environ):
        if name.startswith("BRAIN_CHANNEL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("BRAIN_CHANNELS_FILE", str(tmp_path / "no-channels.toml"))


# -- the JSON webhook -------------------------------------------------------------------------


@dataclass
class Webhook:
    """A local JSON webhook: `received` holds (path, payload) of the requests it answered 200."""

    port: int
    received: list[tuple[str, dict]] = field(default_factory=list)
    refused: list[tuple[str, dict]] = field(default_factory=list)  # answered with an error or left hanging
    _fail: list[tuple[str | None, int]] = field(default_factory=list)  # (path, status; 0 = hang) for the next requests
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str = "hook", **params: str) -> str:
        """The Apprise URL of this receiver (`json://127.0.0.1:PORT/path`)."""
        query = "&".join(f"{k}={v}" for k, v in params.items())
        return f"json://127.0.0.1:{self.port}/{path}" + (f"?{query}" if query else "")

    def fail_next(self, *codes: int, path: str | None = None) -> None:
        """Answer the next requests (to `path` only, when given) with these statuses (500, ...), 0
        meaning: hang past the client's timeout."""
        with self.lock:
            self._fail.extend((f"/{path}" if path else None, c) for c in codes)

    def _code_for(self, path: str) -> int:
        for i, (p, code) in enumerate(self._fail):
            if p is None or p == path:
                del self._fail[i]
                return code
        return 200

    def messages(self, path: str | None = None) -> list[dict]:
        """Payloads answered 200 (to `path` only, when given)."""
        with self.lock:
            return [m for p, m in self.received if path is None or p == f"/{path}"]


def _handler(hook: Webhook) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
            pass

        def do_POST(self) -> None:  # noqa: N802 - stdlib naming
            payload = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            with hook.lock:
                code = hook._code_for(self.path)
                (hook.received if code == 200 else hook.refused).append((self.path, payload))
            if code == 0:
                hook.release.wait(60)  # past any client timeout; released when the test ends
                return
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

    return Handler


@pytest.fixture
def webhook():
    """A JSON webhook receiver on 127.0.0.1 for this test."""
    hook = Webhook(0)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(hook))
    hook.port = server.server_address[1]
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="test-webhook", daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        hook.release.set()
        server.shutdown()
        server.server_close()


# -- the SMTP server --------------------------------------------------------------------------


@dataclass
class Mailbox:
    """A local SMTP server: `messages` holds (envelope from, recipients, raw message text)."""

    port: int
    user: str = "alerts"
    password: str = "s3cret-pw"
    messages: list[tuple[str, list[str], str]] = field(default_factory=list)

    def url(self, to: str = "ada@example.com") -> str:
        """An Apprise mailto URL for plain SMTP (no TLS) with login, to `to`."""
        return (f"mailto://{self.user}:{self.password}@127.0.0.1:{self.port}"
                f"?from=brain@example.com&to={to}&mode=insecure")


@pytest.fixture
def smtp(free_port):
    """An aiosmtpd SMTP server on 127.0.0.1 (login without TLS) for this test."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    box = Mailbox(free_port())

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd naming
            box.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content.decode("utf-8", "replace")))
            return "250 OK"

    def authenticator(server, session, envelope, mechanism, auth_data):
        login = getattr(auth_data, "login", b"") or b""
        password = getattr(auth_data, "password", b"") or b""
        return AuthResult(success=(login.decode(), password.decode()) == (box.user, box.password))

    controller = Controller(Handler(), hostname="127.0.0.1", port=box.port, authenticator=authenticator,
                            auth_require_tls=False)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


# -- the company and its anomalies ------------------------------------------------------------


@dataclass
class Company:
    """The alert tests' vault, its graph, and a store file."""

    root: Path
    graph: object
    store: object


@pytest.fixture
def company(make_vault, tmp_path):
    """The test company (agents owned by people and teams who name channels) with a fresh store."""
    from brain.graph.company import CompanyGraph
    from brain.store.database import Store
    from brain.vault.reader import read_vault

    root = make_vault(COMPANY)
    store = Store(tmp_path / "usage.duckdb")
    try:
        yield Company(root, CompanyGraph.from_vault(read_vault(root)), store)
    finally:
        store.close()


@pytest.fixture
def anomaly():
    """anomaly(id, agent, **changes) -> a dict shaped like brain.anomaly.scan.Anomaly.to_dict()."""

    def make(anomaly_id: str = "a1b2c3d4e5f6", agent: str = "Support Agent", **changes) -> dict:
        a = {
            "id": anomaly_id, "agent": agent, "agent_id": agent.lower().replace(" ", "-"),
            "agent_node": f"Agents/{agent}", "owner": "Ada Lovelace", "team": "Platform",
            "onset": "2026-11-18T09:00:00Z", "detected_at_bucket": "2026-11-18T09:00:00Z",
            "last_bucket": "2026-11-18T14:00:00Z", "granularity": "hour", "family": "spike", "ongoing": True,
            "severity": "warn", "cause": "tokens_per_request", "supporting": [],
            "signals": {"tokens_per_request": {"expected": 1000.0, "actual": 2010.0, "ratio": 2.01},
                        "requests_per_hour": {"expected": 40.0, "actual": 41.0, "ratio": 1.02}, "new_models": []},
            "expected_usd_per_day": 12.5, "actual_usd_per_day": 37.25, "excess_usd_per_day": 24.75,
            "projected_30d_impact_usd": 742.5,
            "decomposition": {"volume": 0.3, "tokens_per_request": 24.45, "model_mix": 0.0, "price": 0.0},
            "changes": ["2026-11-18 Support Agent prompt v2"], "status": "open", "note": "",
            "change_ids": ["Changes/2026-11-18 Support Agent prompt v2"], "ended_at": None, "end": None,
        }
        a.update(changes)
        return a

    return make
