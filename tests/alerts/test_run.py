"""Alert passes end to end: real Apprise to a real local webhook (and SMTP), delivery records in a
real store. A pass is idempotent, failures are retried with backoff until one delivery is
recorded, a crash between send and record costs at most one duplicate."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from brain.alerts import state
from brain.alerts.run import AlertInputs, delivery_status, run_pass, send_test
from brain.alerts.settings import AlertSettings
from brain.costs.budgets import BudgetStatus

NOW = datetime(2026, 11, 18, 15, 30, tzinfo=UTC)  # a Wednesday afternoon, UTC


@pytest.fixture
def hooks(webhook, monkeypatch):
    """Every channel of the test company points at its own path of the webhook."""
    for name in ("ada-hook", "platform-hook", "loud-hook", "ops"):
        monkeypatch.setenv(f"BRAIN_CHANNEL_{name.upper().replace('-', '_')}", webhook.url(name))
    return webhook


def _inputs(company, anomalies=(), budgets=(), settings=None, timeout_s=5.0) -> AlertInputs:
    graph = company.graph

    def dependents(node: str) -> list[str]:
        return [d["name"] for d in graph.dependents(node)] if node in graph.g else []

    return AlertInputs(list(anomalies), list(budgets), settings or AlertSettings(), graph, company.store,
                       dependents, timeout_s=timeout_s)


def _outcomes(report) -> list[tuple[str, str, str | None]]:
    return sorted((i.outcome, i.kind, i.channel) for i in report.items)


def _rows(company) -> list[tuple[str, str, str, int]]:
    return sorted((d.key, d.channel, d.status, d.attempts) for d in state.load_deliveries(company.store))


def test_a_new_anomaly_reaches_its_owner_once_and_a_second_pass_sends_nothing(company, hooks, anomaly):
    a = anomaly()
    report = run_pass(_inputs(company, [a]), NOW)
    assert _outcomes(report) == [("sent", "new", "ada-hook")]
    [payload] = hooks.messages("ada-hook")
    assert payload["title"].startswith("[warn] Support Agent: tokens per request doubled")
    body = payload["message"]
    for needle in ("Owner: Ada Lovelace", "expected $12.50/day, actual $37.25/day", "Projected 30-day impact: $742.50",
                   "2026-11-18 Support Agent prompt v2", "Dependents affected: Triage Bot",
                   "brain anomalies ack a1b2c3d4e5f6", "Brain/Anomalies/a1b2c3d4e5f6 Support Agent.md"):
        assert needle in body, needle
    assert run_pass(_inputs(company, [a]), NOW + timedelta(hours=1)).items == []
    assert len(hooks.messages()) == 1
    assert _rows(company) == [("anomaly:a1b2c3d4e5f6:new", "ada-hook", "sent", 1)]


def test_a_severity_rise_sends_one_update_and_an_end_one_resolution(company, hooks, anomaly):
    run_pass(_inputs(company, [anomaly()]), NOW)
    worse = anomaly(severity="critical", excess_usd_per_day=260.0, family="shift")
    assert _outcomes(run_pass(_inputs(company, [worse]), NOW + timedelta(hours=1))) == [("sent", "update", "ada-hook")]
    assert run_pass(_inputs(company, [worse]), NOW + timedelta(hours=2)).items == []
    over = anomaly(severity="critical", ongoing=False, ended_at="2026-11-19T03:00:00Z", end="back to baseline")
    assert _outcomes(run_pass(_inputs(company, [over]), NOW + timedelta(hours=12))) == [("sent", "resolved", "ada-hook")]
    assert run_pass(_inputs(company, [over]), NOW + timedelta(hours=13)).items == []
    titles = [m["title"] for m in hooks.messages("ada-hook")]
    assert titles == [
        "[warn] Support Agent: tokens per request doubled, +$24.75/day",
        "[critical, was warn] Support Agent: now +$260.00/day",
        "[resolved] Support Agent: back to baseline",
    ]
    assert [m["type"] for m in hooks.messages("ada-hook")] == ["warning", "failure", "success"]


def test_a_failing_receiver_is_retried_with_backoff_then_one_delivery_is_recorded(company, hooks, anomaly):
    hooks.fail_next(500, 0, path="ada-hook")  # an HTTP 500, then a hang past the timeout
    inputs = _inputs(company, [anomaly()], timeout_s=1.0)
    first = run_pass(inputs, NOW)
    [failed] = first.items
    assert (failed.outcome, failed.attempts, failed.next_attempt) == ("failed", 1, "2026-11-18T15:31:00Z")
    assert "500" in failed.reason
    assert run_pass(inputs, NOW + timedelta(seconds=30)).items == [], "backing off: not yet"
    [hung] = run_pass(inputs, NOW + timedelta(minutes=1)).items
    assert (hung.outcome, hung.attempts, hung.next_attempt) == ("failed", 2, "2026-11-18T15:33:00Z")
    [status] = delivery_status(company.store)
    assert (status["channel"], status["failing"], status["next_attempt"], status["last_success"]) == (
        "ada-hook", 1, "2026-11-18T15:33:00Z", None)
    [ok] = run_pass(inputs, NOW + timedelta(minutes=3)).items
    assert (ok.outcome, ok.attempts, ok.via) == ("sent", 3, "retry")
    assert run_pass(inputs, NOW + timedelta(minutes=10)).items == []
    assert len(hooks.messages("ada-hook")) == 1
    assert _rows(company) == [("anomaly:a1b2c3d4e5f6:new", "ada-hook", "sent", 3)]
    assert delivery_status(company.store)[0]["last_success"] == "2026-11-18T15:33:00Z"


def test_a_crash_between_send_and_record_sends_at_most_one_duplicate(company, hooks, anomaly, monkeypatch):
    def crash(*args, **kwargs):
        raise RuntimeError("the process died after sending")

    with monkeypatch.context() as m:
        m.setattr(state, "record_results", crash)
        with pytest.raises(RuntimeError):
            run_pass(_inputs(company, [anomaly()]), NOW)
    assert len(hooks.messages("ada-hook")) == 1
    assert _rows(company) == [("anomaly:a1b2c3d4e5f6:new", "ada-hook", "sending", 1)]
    assert _outcomes(run_pass(_inputs(company, [anomaly()]), NOW + timedelta(minutes=5))) == [("sent", "new", "ada-hook")]
    assert run_pass(_inputs(company, [anomaly()]), NOW + timedelta(minutes=10)).items == []
    assert len(hooks.messages("ada-hook")) == 2, "one duplicate at most, never a missed alert"


def test_each_anomaly_goes_to_its_owner_its_team_or_the_default(company, hooks, anomaly):
    anomalies = [anomaly("aaaaaaaaaaaa"), anomaly("bbbbbbbbbbbb", agent="Triage Bot", owner="Grace Hopper"),
                 anomaly("cccccccccccc", agent="Team Agent", owner="Research", team="Research"),
                 anomaly("dddddddddddd", agent="Loud Agent")]
    report = run_pass(_inputs(company, anomalies, settings=AlertSettings(default_channel="ops")), NOW)
    assert sorted((i.subject, i.channel, i.via) for i in report.items) == [
        ("Loud Agent", "loud-hook", "agent"),
        ("Support Agent", "ada-hook", "owner Ada Lovelace"),
        ("Team Agent", "ops", "default channel"),
        ("Triage Bot", "platform-hook", "team Platform"),
    ]
    assert {p: len(hooks.messages(p)) for p in ("ada-hook", "platform-hook", "ops", "loud-hook")} == dict.fromkeys(
        ("ada-hook", "platform-hook", "ops", "loud-hook"), 1)


def test_no_channel_sends_nothing_and_says_so_and_the_alert_stays_owed(company, hooks, anomaly, monkeypatch):
    orphan = anomaly("aaaaaaaaaaaa", agent="Orphan Agent", owner=None, team=None)
    quiet = anomaly("bbbbbbbbbbbb", agent="Quiet Agent")
    report = run_pass(_inputs(company, [orphan, quiet]), NOW)
    assert sorted((i.subject, i.outcome, i.reason) for i in report.items) == [
        ("Orphan Agent", "skipped", "no channel"),
        ("Quiet Agent", "skipped", "alerts: off on the agent"),
    ]
    monkeypatch.delenv("BRAIN_CHANNEL_OPS")
    [unset] = run_pass(_inputs(company, [orphan], settings=AlertSettings(default_channel="ops")), NOW).items
    assert unset.outcome == "skipped" and "$BRAIN_CHANNEL_OPS" in unset.reason
    assert hooks.messages() == [] and _rows(company) == []
    monkeypatch.setenv("BRAIN_CHANNEL_OPS", hooks.url("ops"))
    [sent] = run_pass(_inputs(company, [orphan], settings=AlertSettings(default_channel="ops")), NOW).items
    assert (sent.outcome, sent.channel) == ("sent", "ops")


def test_quiet_hours_hold_a_warning_and_send_a_critical_at_once(company, hooks, anomaly):
    night = AlertSettings(quiet_hours=(time(22, 0), time(7, 0)), timezone="Europe/Berlin")
    at_night = datetime(2026, 11, 18, 23, 30, tzinfo=UTC)
    warn, critical = anomaly("aaaaaaaaaaaa"), anomaly("bbbbbbbbbbbb", severity="critical")
    report = run_pass(_inputs(company, [warn, critical], settings=night), at_night)
    assert sorted((i.ref, i.outcome, i.next_attempt) for i in report.items) == [
        ("aaaaaaaaaaaa", "held", "2026-11-19T06:00:00Z"), ("bbbbbbbbbbbb", "sent", None)]
    assert [m["title"][:10] for m in hooks.messages()] == ["[critical]"]
    assert run_pass(_inputs(company, [warn, critical], settings=night), at_night + timedelta(hours=1)).by_outcome("sent") == []
    morning = run_pass(_inputs(company, [warn, critical], settings=night), datetime(2026, 11, 19, 6, 5, tzinfo=UTC))
    assert _outcomes(morning) == [("sent", "new", "ada-hook")]
    assert len(hooks.messages()) == 2
    assert [r[2] for r in _rows(company)] == ["sent", "sent"]


def test_the_digest_sends_one_message_a_day_listing_the_held_alerts(company, hooks, anomaly):
    daily = AlertSettings(digest=True, digest_time=time(9, 0))
    two = [anomaly("aaaaaaaaaaaa"), anomaly("bbbbbbbbbbbb", agent="Loud Agent"), anomaly("cccccccccccc", agent="Triage Bot")]
    early = run_pass(_inputs(company, two, settings=daily), datetime(2026, 11, 19, 8, 0, tzinfo=UTC))
    assert {i.outcome for i in early.items} == {"held"} and hooks.messages() == []
    nine = run_pass(_inputs(company, two, settings=daily), datetime(2026, 11, 19, 9, 1, tzinfo=UTC))
    assert sorted((i.outcome, i.kind, i.channel) for i in nine.items) == [
        ("digested", "new", "ada-hook"), ("digested", "new", "loud-hook"), ("digested", "new", "platform-hook"),
        ("sent", "digest", "ada-hook"), ("sent", "digest", "loud-hook"), ("sent", "digest", "platform-hook")]
    [digest] = hooks.messages("ada-hook")
    assert digest["title"] == "Company Brain digest 2026-11-19: 1 alert" and "Support Agent" in digest["message"]
    assert run_pass(_inputs(company, two, settings=daily), datetime(2026, 11, 19, 10, 0, tzinfo=UTC)).items == []
    assert len(hooks.messages()) == 3


def _budget(spent: float, projected: float, start: str = "2026-11-01") -> BudgetStatus:
    return BudgetStatus("Teams/Platform", "Platform", "team", "month", start, 1000.0, spent, projected,
                        spent / 10, ("Agents/Support Agent", "Agents/Triage Bot"))


def test_a_budget_alert_goes_once_per_threshold_per_month(company, hooks):
    for spent, projected, when in ((500, 1200, NOW), (550, 1250, NOW + timedelta(hours=1)),
                                   (820, 1300, NOW + timedelta(days=3)), (830, 1300, NOW + timedelta(days=4)),
                                   (1001, 1300, NOW + timedelta(days=8))):
        run_pass(_inputs(company, budgets=[_budget(spent, projected)]), when)
    titles = [m["title"] for m in hooks.messages("platform-hook")]
    assert titles == ["[budget forecast] Platform: $500.00 of $1,000.00 this month",
                      "[budget 80%] Platform: $820.00 of $1,000.00 this month",
                      "[budget 100%] Platform: $1,001.00 of $1,000.00 this month"]


def test_a_dry_run_decides_but_sends_and_records_nothing(company, hooks, anomaly):
    orphan = anomaly("aaaaaaaaaaaa", agent="Orphan Agent", owner=None, team=None)
    report = run_pass(_inputs(company, [anomaly(), orphan]), NOW, dry_run=True)
    assert _outcomes(report) == [("skipped", "new", None), ("would send", "new", "ada-hook")]
    assert hooks.messages() == [] and _rows(company) == []


def test_an_email_channel_gets_the_alert_through_smtp(company, smtp, anomaly, monkeypatch):
    monkeypatch.setenv("BRAIN_CHANNEL_ADA_HOOK", smtp.url("ada@example.com"))
    [item] = run_pass(_inputs(company, [anomaly()]), NOW).items
    assert item.outcome == "sent", item.reason
    [(_, rcpts, text)] = smtp.messages
    assert rcpts == ["ada@example.com"] and "Support Agent" in text and "a1b2c3d4e5f6" in text


def test_a_test_message_reaches_a_channel_and_a_missing_one_says_how_to_set_it(hooks):
    sent = send_test("ada-hook", now=NOW)
    assert sent.outcome == "sent" and sent.reason == "via $BRAIN_CHANNEL_ADA_HOOK"
    [payload] = hooks.messages("ada-hook")
    assert payload["title"] == "Company Brain test: ada-hook"
    missing = send_test("nowhere", now=NOW)
    assert missing.outcome == "skipped" and "$BRAIN_CHANNEL_NOWHERE" in missing.reason


def test_a_running_servers_shared_store_records_through_its_writer(company, hooks, anomaly, tmp_path):
    from brain.store.shared import SharedStore

    company.store.close()
    shared = SharedStore(company.store.path)
    try:
        company.store = shared
        assert _outcomes(run_pass(_inputs(company, [anomaly()]), NOW)) == [("sent", "new", "ada-hook")]
        assert run_pass(_inputs(company, [anomaly()]), NOW + timedelta(hours=1)).items == []
        assert _rows(company) == [("anomaly:a1b2c3d4e5f6:new", "ada-hook", "sent", 1)]
    finally:
        shared.close()


DEMO_NOW = datetime(2026, 11, 29, 4, 56, 12, tzinfo=UTC)


@pytest.mark.e2e
def test_the_demo_companys_three_stories_each_reach_their_owners_channel_once(tmp_path, webhook, monkeypatch):
    from brain.demo.build import build_demo
    from brain.facade import Brain
    from brain.settings import Settings

    root = tmp_path / "demo"
    build_demo(root, seed=7, days=60, now=DEMO_NOW)
    for person, channel in (("Mei Chen", "research-hook"), ("Jonas Becker", "data-hook")):
        note = root / "People" / f"{person}.md"
        note.write_text(note.read_text(encoding="utf-8").replace("type: person\n", f"type: person\nnotify: {channel}\n", 1),
                        encoding="utf-8")
    (root / "Brain").mkdir(exist_ok=True)
    (root / "Brain" / "Settings.md").write_text("---\ndefault_channel: ops\n---\n", encoding="utf-8")
    for name in ("research-hook", "data-hook", "ops"):
        monkeypatch.setenv(f"BRAIN_CHANNEL_{name.upper().replace('-', '_')}", webhook.url(name))

    brain = Brain.open(Settings(vault=root))
    try:
        dry = brain.alert_pass(now=DEMO_NOW, dry_run=True)
        assert webhook.messages() == [] and dry["counts"].get("would send") == 3
        first = brain.alert_pass(now=DEMO_NOW)
        sent = sorted((i["subject"], i["channel"], i["via"]) for i in first["items"] if i["outcome"] == "sent")
        assert sent == [
            ("Daily Summariser", "data-hook", "owner Jonas Becker"),
            ("Lead Enricher", "ops", "default channel"),  # it has no owner: the default channel
            ("Research Assistant", "research-hook", "owner Mei Chen"),
        ]
        assert brain.alert_pass(now=DEMO_NOW + timedelta(hours=1))["counts"].get("sent", 0) == 0
        assert brain.alert_status()[0]["channel"] == "data-hook"
        assert {d["status"] for d in brain.alerts()} == {"sent"} and brain.alerts("failed") == []
    finally:
        brain.close()
    by_channel = {name: webhook.messages(name) for name in ("research-hook", "data-hook", "ops")}
    assert {k: len(v) for k, v in by_channel.items()} == {"research-hook": 1, "data-hook": 1, "ops": 1}
    assert "tokens per request doubled" in by_channel["research-hook"][0]["title"]
    assert "Research Assistant prompt v4" in by_channel["research-hook"][0]["message"]
    assert "Lead Enricher retries on any error" in by_channel["ops"][0]["message"]
    assert by_channel["ops"][0]["type"] == "failure", "a critical episode told only once it ended is no success"


@pytest.mark.e2e
def test_a_running_server_runs_a_pass_every_n_minutes_only_where_it_takes_the_hand_offs(tmp_path, webhook, monkeypatch):
    """`every_minutes` in the settings note: brain serve alerts within the hour without cron."""
    from brain.demo.build import build_demo
    from brain.facade import Brain
    from brain.live.server import AlertPasses
    from brain.settings import Settings

    root = tmp_path / "demo"
    build_demo(root, seed=7, days=60, now=DEMO_NOW)
    settings_note = root / "Brain" / "Settings.md"
    settings_note.write_text(settings_note.read_text(encoding="utf-8").replace("every_minutes:\n", "every_minutes: 30\n", 1),
                             encoding="utf-8")
    for name in ("research-alerts", "data-alerts", "finops-alerts", "platform-alerts", "developer-experience-alerts"):
        monkeypatch.setenv(f"BRAIN_CHANNEL_{name.upper().replace('-', '_')}", webhook.url(name))
    brain = Brain.open(Settings(vault=root))
    owner = {"takes_hand_offs": False}
    passes = AlertPasses(brain, lambda: owner["takes_hand_offs"])  # ticked by hand below (its timer: once a minute)
    try:
        passes.last -= 31 * 60
        assert passes.tick(DEMO_NOW) is None and webhook.messages() == []  # another server takes the hand-offs
        owner["takes_hand_offs"] = True
        report = passes.tick(DEMO_NOW)
        assert report is not None and report["counts"].get("sent", 0) >= 3
        sent = len(webhook.messages())
        assert passes.tick(DEMO_NOW) is None  # not due again for 30 minutes
        passes.last -= 31 * 60
        assert passes.tick(DEMO_NOW)["counts"].get("sent", 0) == 0 and len(webhook.messages()) == sent  # idempotent
    finally:
        passes.stop()
        brain.close()
    assert {m["title"].split("] ")[1].split(":")[0] for m in webhook.messages()} >= {
        "Research Assistant", "Daily Summariser", "Lead Enricher"}


@pytest.mark.e2e
def test_brain_collect_runs_the_alert_passes_too_through_the_store_it_owns(tmp_path, webhook, monkeypatch, free_port):
    from brain.demo.build import build_demo
    from brain.facade import Brain
    from brain.live.server import Collecting
    from brain.settings import Settings

    root = tmp_path / "demo"
    build_demo(root, seed=7, days=60, now=DEMO_NOW)
    settings_note = root / "Brain" / "Settings.md"
    settings_note.write_text(settings_note.read_text(encoding="utf-8").replace("every_minutes:\n", "every_minutes: 15\n", 1),
                             encoding="utf-8")
    monkeypatch.setenv("BRAIN_CHANNEL_FINOPS_ALERTS", webhook.url("finops"))
    settings = Settings(vault=root)
    brain = Brain.open(settings)
    run = Collecting(settings.store_path, "127.0.0.1", free_port(), brain=brain).start()
    try:
        assert run.alerter is not None and brain.store is run._shared
        run.alerter.last -= 16 * 60
        report = run.alerter.tick(DEMO_NOW)
        assert report is not None and ("Lead Enricher", "sent") in {(i["subject"], i["outcome"]) for i in report["items"]}
    finally:
        run.stop()
        brain.close()
    assert len(webhook.messages("finops")) == 1
