"""The settings note and per-note alert properties: parsed with file and line for every problem,
the default used in place of what cannot be; severity floors that scale with the company."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brain.alerts.settings import (
    SETTINGS_NOTE,
    SETTINGS_PROPERTIES,
    AlertSettings,
    NodeAlertPrefs,
    node_prefs,
    read_alert_settings,
)
from brain.anomaly import AnomalyConfig, scan_series
from brain.vault.template import template_path

DEFAULTS = AlertSettings()


def _note(root, frontmatter: str, body: str = "# Settings\n"):
    path = root / SETTINGS_NOTE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"---\n{frontmatter}---\n{body}", encoding="utf-8")
    return root


def _messages(findings) -> list[str]:
    return [f.text for f in findings]


def test_a_missing_note_is_the_defaults_and_no_finding(tmp_path):
    assert read_alert_settings(tmp_path) == (DEFAULTS, [])


def test_a_good_note_sets_every_property(tmp_path):
    _note(tmp_path, """\
warn_usd_per_day: 25
warn_share_of_company: 0.01
critical_usd_per_day: 500.5
critical_share_of_company: 0.05
critical_ratio: 8
min_severity: critical
quiet_hours: "22:00-07:30"
timezone: Europe/Paris
digest: true
digest_time: "8:15"
default_channel: finops-slack
every_minutes: 15
budget_thresholds: [1.0, 0.5, 0.9]
tags: [brain]
""")
    got, findings = read_alert_settings(tmp_path)
    assert findings == []
    assert got == AlertSettings(
        warn_usd_per_day=25, warn_share_of_company=0.01, critical_usd_per_day=500.5,
        critical_share_of_company=0.05, critical_ratio=8, min_severity="critical",
        quiet_hours=(time(22, 0), time(7, 30)), timezone="Europe/Paris", digest=True,
        digest_time=time(8, 15), default_channel="finops-slack", every_minutes=15,
        budget_thresholds=(0.5, 0.9, 1.0),
    )
    assert got.to_dict()["quiet_hours"] == "22:00-07:30" and got.to_dict()["digest_time"] == "08:15"


def test_empty_properties_and_off_are_the_defaults(tmp_path):
    _note(tmp_path, "quiet_hours:\ndefault_channel:\nevery_minutes: off\n")
    assert read_alert_settings(tmp_path) == (DEFAULTS, [])


def test_broken_yaml_is_one_error_with_its_line_and_every_default(tmp_path):
    _note(tmp_path, "warn_usd_per_day: 50\nmin_severity: [warn\ndigest: true\n")
    got, findings = read_alert_settings(tmp_path)
    assert got == DEFAULTS
    (f,) = findings
    assert f.severity == "error" and f.kind == "settings_yaml" and f.path == SETTINGS_NOTE
    assert f.line == 4
    assert f.text.startswith("Brain/Settings.md:4: broken YAML")
    assert "ignored" in f.text and "default" in f.text


def test_a_negative_floor_is_reported_at_its_line_and_its_default_used(tmp_path):
    _note(tmp_path, "min_severity: info\nwarn_usd_per_day: -5\n")
    got, findings = read_alert_settings(tmp_path)
    assert got == AlertSettings(min_severity="info")  # the rest of the note still counts
    assert _messages(findings) == [
        "Brain/Settings.md:3: warn_usd_per_day is -5; it must be a number >= 0 (using 10)"]
    assert findings[0].severity == "warning" and findings[0].property == "warn_usd_per_day"


def test_an_unknown_severity_is_reported_and_warn_used(tmp_path):
    _note(tmp_path, "min_severity: urgent\n")
    got, findings = read_alert_settings(tmp_path)
    assert got.min_severity == "warn"
    assert _messages(findings) == [
        "Brain/Settings.md:2: min_severity is 'urgent'; use one of info, warn, critical (using warn)"]


def test_a_typo_is_reported_with_the_setting_it_meant(tmp_path):
    _note(tmp_path, "warn_usd_per_dya: 3\nfavourite_colour: blue\n")
    got, findings = read_alert_settings(tmp_path)
    assert got == DEFAULTS
    assert _messages(findings) == [
        "Brain/Settings.md:2: warn_usd_per_dya is not a setting; did you mean warn_usd_per_day? (ignored)",
        "Brain/Settings.md:3: favourite_colour is not a setting; the settings are listed in the note (ignored)",
    ]
    assert {f.kind for f in findings} == {"unknown_setting"}


@pytest.mark.parametrize("value", ['"22-7"', '"22:00-22:00"', '"25:00-07:00"', "[22, 7]", "10"])
def test_bad_quiet_hours_are_reported_and_left_unset(tmp_path, value):
    _note(tmp_path, f"digest: true\nquiet_hours: {value}\n")
    got, findings = read_alert_settings(tmp_path)
    assert got == AlertSettings(digest=True)
    (f,) = findings
    assert f.line == 3 and f.property == "quiet_hours"
    assert re.fullmatch(r'Brain/Settings\.md:3: quiet_hours is .+; it must be a range of hours such as '
                        r'"22:00-07:00" \(or off\).* \(left unset\)', f.text)


@pytest.mark.parametrize(("line", "default_text"), [
    ("warn_share_of_company: 2", "using 0.002"),
    ("critical_ratio: 0.5", "using 5"),
    ("critical_usd_per_day: lots", "using 200"),
    ("digest: yes", "using false"),
    ("digest_time: noon", "using 09:00"),
    ("every_minutes: 0", "left unset"),
    ("every_minutes: 2.5", "left unset"),
    ("budget_thresholds: [0.8, -1]", "using [0.8, 1]"),
    ("warn_usd_per_day: .inf", "using 10"),
    ("warn_usd_per_day: true", "using 10"),
])
def test_wrong_types_are_reported_and_the_default_used(tmp_path, line, default_text):
    _note(tmp_path, line + "\n")
    got, findings = read_alert_settings(tmp_path)
    assert got == DEFAULTS
    (f,) = findings
    assert f.line == 2 and f.text.endswith(f"({default_text})"), f.text


def test_a_time_zone_typo_gets_the_zone_it_meant(tmp_path):
    _note(tmp_path, "timezone: Europe/Pari\n")
    got, findings = read_alert_settings(tmp_path)
    assert got.timezone == "UTC"
    assert "did you mean Europe/Paris?" in findings[0].text


def test_a_url_as_default_channel_is_refused_and_never_repeated(tmp_path):
    url = "slack://T01234567/B01234567/abcdefghijklmnopqrstuvwx"
    _note(tmp_path, f"default_channel: {url}\n")
    got, findings = read_alert_settings(tmp_path)
    assert got.default_channel is None
    (f,) = findings
    assert "looks like a URL" in f.text and "BRAIN_CHANNEL_" in f.text
    assert url not in f.text and "abcdefghijklmnop" not in f.text


def test_a_property_set_twice_is_reported_and_the_last_one_used(tmp_path):
    _note(tmp_path, "warn_usd_per_day: 12\ndigest: false\nwarn_usd_per_day: 30\n")
    got, findings = read_alert_settings(tmp_path)
    assert got.warn_usd_per_day == 30
    assert _messages(findings) == [
        "Brain/Settings.md:4: warn_usd_per_day is set twice (lines 2 and 4); the last one is used"]


def test_frontmatter_that_is_not_properties_is_an_error(tmp_path):
    _note(tmp_path, "- just\n- a list\n")
    got, findings = read_alert_settings(tmp_path)
    assert got == DEFAULTS and [f.severity for f in findings] == ["error"]


def test_a_note_without_frontmatter_is_the_defaults(tmp_path):
    (tmp_path / "Brain").mkdir()
    (tmp_path / SETTINGS_NOTE).write_text("# Settings\n\nnothing set yet\n")
    assert read_alert_settings(tmp_path) == (DEFAULTS, [])


def test_crlf_and_a_bom_keep_the_lines(tmp_path):
    (tmp_path / "Brain").mkdir()
    (tmp_path / SETTINGS_NOTE).write_bytes("\ufeff---\r\ndigest: true\r\nwarn_usd_per_day: -1\r\n---\r\n".encode())
    got, findings = read_alert_settings(tmp_path)
    assert got.digest is True and [f.line for f in findings] == [3]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("abcdefgw_:-[]{}\"' \n0123456789.#&*!|>%@`")), max_size=80))
def test_any_frontmatter_gives_settings_and_findings_never_an_exception(tmp_path_factory, text):
    root = tmp_path_factory.mktemp("v")
    _note(root, text + "\n")
    got, findings = read_alert_settings(root)
    assert isinstance(got, AlertSettings)
    for f in findings:
        assert f.text.startswith("Brain/Settings.md") and f.severity in ("error", "warning")
    if any(f.severity == "error" for f in findings):
        assert got == DEFAULTS


# -- the starter vault's settings note -----------------------------------------------------------

def test_the_starter_note_is_the_defaults_and_documents_every_property():
    got, findings = read_alert_settings(template_path())
    assert (got, findings) == (DEFAULTS, [])
    body = (template_path() / SETTINGS_NOTE).read_text(encoding="utf-8").split("\n---\n", 1)[1]
    assert set(SETTINGS_PROPERTIES) == {f.name for f in dataclasses.fields(AlertSettings)}
    for prop in (*SETTINGS_PROPERTIES, "alert_min_usd_per_day", "alert_severity", "alerts: off", "notify",
                 "budget_usd_per_month", "budget_usd_per_day"):
        assert f"`{prop}`" in body, prop


# -- severity floors -------------------------------------------------------------------------------

def test_floors_are_the_larger_of_the_absolute_and_the_company_share():
    small, large = DEFAULTS.severity_floors(50.0), DEFAULTS.severity_floors(50_000.0)
    assert small["warn_excess_usd_per_day"] == 10 and small["critical_excess_usd_per_day"] == 200
    assert large["warn_excess_usd_per_day"] == pytest.approx(100) and large["critical_excess_usd_per_day"] == pytest.approx(1000)
    assert small["critical_ratio"] == large["critical_ratio"] == 5
    assert DEFAULTS.severity_floors(0) == DEFAULTS.severity_floors(-3)  # no usage: the absolute floors
    dataclasses.replace(AnomalyConfig(), **large)  # every key is a knob of the detector


START = datetime(2024, 1, 1, tzinfo=UTC)


def _small_agent_jump(days: int, jump_day: int, factor: float) -> pa.Table:
    """An agent spending $1/day (20 requests an hour) whose cost per request jumps `factor` times."""
    rng = np.random.default_rng(0)
    rows = []
    for h in range(days * 24):
        n = int(rng.poisson(20))
        k = factor if h >= jump_day * 24 else 1.0
        if n:
            rows.append({"agent": "Agents/Small", "hour": START + timedelta(hours=h), "provider": "openai",
                         "model": "gpt-4o-mini", "requests": n, "error_requests": 0, "runs": n,
                         "input_tokens": int(n * 800 * k), "output_tokens": int(n * 200 * k),
                         "cost_usd": n * k / 24 / 20, "input_tokens_p95": 1200 * k, "output_tokens_p95": 300 * k})
    schema = pa.schema([
        ("agent", pa.string()), ("hour", pa.timestamp("us", tz="UTC")), ("provider", pa.string()),
        ("model", pa.string()), ("requests", pa.int64()), ("error_requests", pa.int64()), ("runs", pa.int64()),
        ("input_tokens", pa.int64()), ("output_tokens", pa.int64()), ("cost_usd", pa.float64()),
        ("input_tokens_p95", pa.float64()), ("output_tokens_p95", pa.float64()),
    ])
    return pa.Table.from_pylist(rows, schema=schema)


def test_a_20x_jump_on_a_1_usd_agent_is_warn_in_a_small_company_and_info_in_a_large_one():
    table = _small_agent_jump(days=40, jump_day=35, factor=20)
    severities = {}
    for company_usd_per_day in (50.0, 50_000.0):
        cfg = dataclasses.replace(AnomalyConfig(), **DEFAULTS.severity_floors(company_usd_per_day))
        (found,) = scan_series(table, START, START + timedelta(days=40), config=cfg)
        assert 15 < found.excess_usd_per_day < 25  # ~$19/day over ~$1/day
        severities[company_usd_per_day] = found.severity
    assert severities == {50.0: "warn", 50_000.0: "info"}


# -- per-note alert properties ---------------------------------------------------------------------

def test_node_prefs_read_the_overrides():
    prefs, problems = node_prefs({"alerts": "off", "alert_min_usd_per_day": 3, "alert_severity": "Critical",
                                  "notify": "finops-slack", "owner": "[[Ada]]"})
    assert problems == []
    assert prefs == NodeAlertPrefs(off=True, min_usd_per_day=3.0, min_severity="critical", notify="finops-slack")
    assert node_prefs({"alerts": False})[0].off is True
    assert node_prefs({"alerts": "on"})[0].off is False
    assert node_prefs({}) == (NodeAlertPrefs(), [])


def test_node_prefs_problems_are_messages_and_the_property_unset():
    url = "https://hooks.slack.com/services/T0000/B0000/abcdefghijklmnop"
    prefs, problems = node_prefs({"alerts": "maybe", "alert_min_usd_per_day": -1, "alert_severity": "high",
                                  "notify": url, "alert_severty": "warn"})
    assert prefs == NodeAlertPrefs()
    assert problems[:3] == [
        "alerts is 'maybe'; it must be off or on (alerts stay on)",
        "alert_min_usd_per_day is -1; it must be a number >= 0 (using the company's floors)",
        "alert_severity is 'high'; use one of info, warn, critical (using the company's min_severity)",
    ]
    assert "looks like a URL" in problems[3] and url not in problems[3] and "abcdefghijklmnop" not in problems[3]
    assert problems[4] == "alert_severty is not an alert property; did you mean alert_severity? (ignored)"


def test_init_copies_the_settings_note_and_publish_never_touches_it(tmp_path, capsys):
    from brain.cli import main
    from brain.store.database import Store

    vault = tmp_path / "v"
    assert main(["init", str(vault)]) == 0
    note = vault / SETTINGS_NOTE
    assert note.read_bytes() == (template_path() / SETTINGS_NOTE).read_bytes()
    Store(vault / ".brain" / "usage.duckdb").close()
    for edited in (None, note.read_text(encoding="utf-8").replace("warn_usd_per_day: 10", "warn_usd_per_day: 25")):
        if edited is not None:
            note.write_text(edited, encoding="utf-8")
        before = note.read_bytes()
        for _ in range(2):
            assert main(["publish", "--vault", str(vault)]) == 0
            assert note.read_bytes() == before
    assert (vault / "Brain" / "Costs").is_dir()  # publish did write into Brain/
    assert read_alert_settings(vault)[0].warn_usd_per_day == 25


@pytest.mark.e2e
def test_the_demo_vault_has_the_settings_note(tmp_path, capsys):
    from brain.cli import main

    assert main(["demo", str(tmp_path / "demo"), "--seed", "1", "--days", "3"]) == 0
    demo = (tmp_path / "demo" / SETTINGS_NOTE).read_text(encoding="utf-8")
    starter = (template_path() / SETTINGS_NOTE).read_text(encoding="utf-8")
    assert demo == starter.replace("default_channel:\n", "default_channel: finops-alerts\n", 1) != starter
    assert read_alert_settings(tmp_path / "demo") == (replace(DEFAULTS, default_channel="finops-alerts"), [])
