"""`brain check` on the settings note, budgets and alert properties: each bad input one clear
finding with file and line, and the defaults used (issue 16, "Bad input")."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from brain.alerts.settings import AlertSettings
from brain.cli import main
from brain.facade import Brain
from brain.ingest import ingest_table
from brain.settings import Settings
from brain.store.database import Store

COMPANY = {
    "Agents/Bot.md": "---\ntype: agent\nagent_id: bot\nowner: '[[Ada]]'\n---\n",
    "People/Ada.md": "---\ntype: person\nteam: '[[Platform]]'\n---\n",
    "Teams/Platform.md": "---\ntype: team\n---\n",
    ".obsidian/app.json": "{}",
}


def _check(root, capsys) -> tuple[int, list[dict]]:
    capsys.readouterr()
    code = main(["check", "--vault", str(root), "--json"])
    return code, json.loads(capsys.readouterr().out)["gaps"]


def _settings(root) -> AlertSettings:
    brain = Brain.open(Settings(vault=root))
    try:
        return brain.alert_settings()[0]
    finally:
        brain.close()


def test_the_starter_settings_note_is_checked_clean(tmp_path, capsys):
    assert main(["init", str(tmp_path / "v")]) == 0
    assert (tmp_path / "v" / "Brain" / "Settings.md").is_file()
    code, gaps = _check(tmp_path / "v", capsys)
    assert code == 0 and gaps == []
    assert _settings(tmp_path / "v") == AlertSettings()


def test_broken_yaml_in_the_settings_note_is_one_error_with_its_line(make_vault, capsys):
    root = make_vault({**COMPANY, "Brain/Settings.md": "---\nwarn_usd_per_day: 50\nmin_severity: [warn\n---\n"})
    code, gaps = _check(root, capsys)
    assert code == 1  # an error: the whole note is ignored
    (gap,) = [g for g in gaps if g["node"].startswith("Brain/Settings")]  # in place of the plain broken_yaml gap
    assert gap["kind"] == "settings_yaml" and gap["severity"] == "error" and gap["line"] == 4
    assert gap["message"].startswith("Brain/Settings.md:4: broken YAML")
    assert "every alert setting is at its default" in gap["message"]
    assert _settings(root) == AlertSettings()


@pytest.mark.parametrize(("line", "expected"), [
    ("warn_usd_per_day: -5", "Brain/Settings.md:3: warn_usd_per_day is -5; it must be a number >= 0 (using 10)"),
    ("min_severity: urgent", "Brain/Settings.md:3: min_severity is 'urgent'; use one of info, warn, critical (using warn)"),
    ("critical_usd_per_dy: 300", "Brain/Settings.md:3: critical_usd_per_dy is not a setting; did you mean critical_usd_per_day? (ignored)"),
    ("quiet_hours: 10pm-7am", "Brain/Settings.md:3: quiet_hours is '10pm-7am'; it must be a range of hours such as "
                              '"22:00-07:00" (or off) (left unset)'),
])
def test_a_bad_setting_is_a_warning_with_file_and_line_and_its_default_used(make_vault, capsys, line, expected):
    root = make_vault({**COMPANY, "Brain/Settings.md": f"---\ndigest: true\n{line}\n---\n# Settings\n"})
    code, gaps = _check(root, capsys)
    assert code == 0  # warnings only
    assert [(g["severity"], g["node"], g["message"], g["line"]) for g in gaps] == [
        ("warning", "Brain/Settings", expected, 3)]
    assert _settings(root) == AlertSettings(digest=True)


def test_the_table_shows_the_finding_with_file_and_line(make_vault, capsys):
    root = make_vault({**COMPANY, "Brain/Settings.md": "---\nwarn_usd_per_day: -5\n---\n"})
    capsys.readouterr()
    assert main(["check", "--vault", str(root)]) == 0
    out = capsys.readouterr().out
    assert "invalid_setting" in out and "Brain/Settings.md:2: warn_usd_per_day is -5" in out
    assert "0 errors, 1 warnings" in out


def test_a_negative_budget_and_bad_alert_properties_are_findings(make_vault, capsys):
    root = make_vault({
        **COMPANY,
        "Agents/Bot.md": "---\ntype: agent\nagent_id: bot\nowner: '[[Ada]]'\nbudget_usd_per_month: -50\n"
                         "alert_severity: loud\n---\n",
        "Teams/Platform.md": "---\ntype: team\nalerts: sometimes\nnotify: https://hooks.slack.com/services/T0001/B0002/abcdefghijklmnopqrstuvwx\n---\n",
    })
    _, gaps = _check(root, capsys)  # (the channel checks may add an error for the URL in `notify`)
    found = {(g["kind"], g["node"]): g["message"] for g in gaps}
    assert found[("invalid_budget", "Agents/Bot")] == (
        "Agents/Bot.md:5: budget_usd_per_month is -50; it must be an amount in USD above 0, such as 500 (no budget)")
    platform = [g["message"] for g in gaps if g["node"] == "Teams/Platform" and g["kind"] == "invalid_alert_property"]
    assert platform[0] == "Teams/Platform.md:3: alerts is 'sometimes'; it must be off or on (alerts stay on)"
    assert platform[1].startswith("Teams/Platform.md:4: notify is ") and "looks like a URL" in platform[1]
    assert "abcdefghijklmnop" not in json.dumps(gaps)  # the URL is never repeated in full, by any check
    secret = [g for g in gaps if g["kind"] == "secret_in_note" and g["node"] == "Teams/Platform"]
    assert secret and "…" in secret[0]["message"]  # reported as a leaked secret, masked
    bot = [g["message"] for g in gaps if g["node"] == "Agents/Bot" and g["kind"] == "invalid_alert_property"]
    assert bot == ["Agents/Bot.md:6: alert_severity is 'loud'; use one of info, warn, critical "
                   "(using the company's min_severity)"]
    brain = Brain.open(Settings(vault=root))
    assert brain.budgets() == []  # no budget from a negative one
    brain.close()


# -- the settings reach the anomaly scan -----------------------------------------------------------

NOW = datetime(2025, 6, 20, 12, 0, tzinfo=UTC)


def _small_agent_jump(root) -> None:
    """`bot` spending $1/day for five weeks, then 20 times that for its last three days (a price note
    makes acme-1 $1 per million input tokens)."""
    (root / "Prices").mkdir(exist_ok=True)
    (root / "Prices" / "Acme.md").write_text("---\ntype: price\nprovider: acme\nmodel: acme-1\n"
                                             "input_mtok: 1\noutput_mtok: 0\n---\n")
    hours = 38 * 24
    start = NOW - timedelta(hours=hours)
    rows = [{"timestamp": (start + timedelta(hours=h)).isoformat(), "agent": "bot", "provider": "acme",
             "model": "acme-1", "requests": 20, "output_tokens": 0, "request_id": f"r{h}",
             "input_tokens": 1_000_000 // 24 * (20 if h >= hours - 3 * 24 else 1)} for h in range(hours)]
    with Store(root / ".brain" / "usage.duckdb") as st:
        ingest_table(st, pa.Table.from_pylist(rows), source="test")


def _anomalies(root, capsys) -> list[dict]:
    capsys.readouterr()
    assert main(["anomalies", "--vault", str(root), "--json", "--now", NOW.isoformat()]) == 0
    return json.loads(capsys.readouterr().out)


def test_the_settings_note_sets_the_floors_of_the_anomaly_scan(make_vault, capsys):
    root = make_vault(COMPANY)
    _small_agent_jump(root)
    (found,) = _anomalies(root, capsys)
    assert found["severity"] == "warn" and 15 < found["excess_usd_per_day"] < 25
    (root / "Brain").mkdir()
    (root / "Brain" / "Settings.md").write_text("---\nwarn_usd_per_day: 50\n---\n")
    (again,) = _anomalies(root, capsys)
    assert again["id"] == found["id"] and again["severity"] == "info"
    # an invalid floor is its default: warn again
    (root / "Brain" / "Settings.md").write_text("---\nwarn_usd_per_day: -50\n---\n")
    assert [a["severity"] for a in _anomalies(root, capsys)] == ["warn"]


def test_the_floors_scale_with_the_companys_own_spend(make_vault):
    root = make_vault(COMPANY)
    _small_agent_jump(root)
    brain = Brain.open(Settings(vault=root))
    try:
        company = brain.company_usd_per_day(NOW)
        assert 1 < company < 3  # $1/day, then $20/day for the last of the 30 days
        cfg = brain.anomaly_config(NOW)
        assert cfg.warn_excess_usd_per_day == 10 and cfg.critical_excess_usd_per_day == 200
        (root / "Brain").mkdir()
        (root / "Brain" / "Settings.md").write_text("---\nwarn_usd_per_day: 0\nwarn_share_of_company: 1\n---\n")
        assert brain.anomaly_config(NOW).warn_excess_usd_per_day == pytest.approx(company)
    finally:
        brain.close()
