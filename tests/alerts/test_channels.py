"""Channel names to URLs: the environment, then the owner-only channels file; `brain check`
findings for names with no URL and for URLs pasted into notes, always masked."""

from __future__ import annotations

import os
import re

import pytest

from brain.alerts.channels import (
    channel_findings,
    channel_url,
    env_var,
    load_channels,
    masked_url,
    scrub,
)


def _channels_file(tmp_path, monkeypatch, text: str, mode: int = 0o600):
    path = tmp_path / "channels.toml"
    path.write_text(text, encoding="utf-8")
    os.chmod(path, mode)
    monkeypatch.setenv("BRAIN_CHANNELS_FILE", str(path))
    return path


def test_env_var_names_the_channel_upper_cased_with_underscores():
    assert env_var("finops-slack") == "BRAIN_CHANNEL_FINOPS_SLACK"
    assert env_var("Team.Ops 2") == "BRAIN_CHANNEL_TEAM_OPS_2"


def test_a_channel_url_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("BRAIN_CHANNEL_FINOPS_SLACK", "json://127.0.0.1:9/hook")
    assert channel_url("finops-slack") == "json://127.0.0.1:9/hook"
    assert channel_url("FinOps Slack") == "json://127.0.0.1:9/hook"
    assert channel_url("other") is None
    assert channel_url("") is None


def test_an_owner_only_channels_file_is_read_and_the_environment_wins(tmp_path, monkeypatch):
    _channels_file(tmp_path, monkeypatch, 'finops-slack = "json://127.0.0.1:9/file"\nmail = "mailto://a:b@c"\n')
    book = load_channels()
    assert book.problems == ()
    assert book.url("finops-slack") == "json://127.0.0.1:9/file"
    assert book.names() == ["finops-slack", "mail"]
    monkeypatch.setenv("BRAIN_CHANNEL_FINOPS_SLACK", "json://127.0.0.1:9/env")
    assert channel_url("finops-slack") == "json://127.0.0.1:9/env"
    assert load_channels().where("finops-slack") == "$BRAIN_CHANNEL_FINOPS_SLACK"


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_a_channels_file_others_can_read_is_refused_with_a_finding(tmp_path, monkeypatch, company):
    path = _channels_file(tmp_path, monkeypatch, 'ada-hook = "json://127.0.0.1:9/hook"\n', mode=0o644)
    book = load_channels()
    assert book.url("ada-hook") is None, "a URL in a file others can read is not used"
    gaps = channel_findings(company.graph, None, book)
    refused = [g for g in gaps if g.kind == "channels_file"]
    assert len(refused) == 1 and refused[0].severity == "error"
    assert "0644" in refused[0].message and f"chmod 600 {path}" in refused[0].message
    assert "127.0.0.1" not in refused[0].message


def test_a_broken_channels_file_is_a_finding_not_a_crash(tmp_path, monkeypatch):
    _channels_file(tmp_path, monkeypatch, 'ok = "json://h/x"\nbad = 3\nbroken = [\n')
    book = load_channels()
    assert book.url("ok") is None
    assert any("not valid TOML" in p for p in book.problems)
    _channels_file(tmp_path, monkeypatch, 'ok = "json://h/x"\nbad = 3\n')
    book = load_channels()
    assert book.url("ok") == "json://h/x"
    assert any("'bad'" in p for p in book.problems)


def test_check_names_each_note_whose_channel_has_no_url_and_the_variable_to_set(company, monkeypatch):
    monkeypatch.setenv("BRAIN_CHANNEL_ADA_HOOK", "json://127.0.0.1:9/ada")
    gaps = channel_findings(company.graph, "ops-default")
    missing = {(g.node, g.kind) for g in gaps}
    assert missing == {
        ("Agents/Loud Agent", "channel_without_url"),
        ("Teams/Platform", "channel_without_url"),
        ("Brain/Settings", "channel_without_url"),
    }
    by_node = {g.node: g.message for g in gaps}
    assert "$BRAIN_CHANNEL_LOUD_HOOK" in by_node["Agents/Loud Agent"]
    assert "default_channel: 'ops-default'" in by_node["Brain/Settings"]
    assert all(g.severity == "warning" for g in gaps)  # not lost: owed until the channel has a URL


def test_a_url_apprise_cannot_use_is_a_finding_with_the_url_masked(company, monkeypatch):
    monkeypatch.setenv("BRAIN_CHANNEL_ADA_HOOK", "nosuchscheme://secret-token-1234567890")
    gaps = [g for g in channel_findings(company.graph, None) if g.kind == "channel_url_invalid"]
    assert len(gaps) == 1 and gaps[0].node == "People/Ada Lovelace"
    assert "secret-token-1234567890" not in gaps[0].message and "nosuchscheme" in gaps[0].message


def test_urls_and_errors_are_shown_masked():
    url = "json://admin:hunter2@127.0.0.1:8080/hooks/T0123456789ABCDEF"
    shown = masked_url(url)
    assert shown.startswith("json://") and "hunter2" not in shown and "T0123456789ABCDEF" not in shown
    text = scrub(f"could not post to {url}; token T0123456789ABCDEF refused for admin:hunter2", url)
    assert "hunter2" not in text and "T0123456789ABCDEF" not in text and text.startswith("could not post to json://")


def test_check_reports_a_channel_url_pasted_into_a_note_masked(make_vault):
    from brain.facade import Brain
    from brain.settings import Settings

    slack = "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"
    root = make_vault({
        "Agents/Bot.md": f"---\ntype: agent\nowner: \"[[Ada]]\"\nnotify: {slack}\n---\n",
        "People/Ada.md": ("---\ntype: person\n---\nMy mail channel: mailtos://ada:pa55word@smtp.example.com "
                          "and tgram://123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1/-100123\n"),
        "Teams/Ops.md": "---\ntype: team\n---\nntfy token tk_AgQdq7mVBoFD37zQVN29RhuMzNIz2, docs at https://ntfy.sh/docs\n",
    })
    brain = Brain.open(Settings(vault=root, store=root / "none.duckdb"))
    gaps = [g for g in brain.inventory_gaps() if g.kind == "secret_in_note"]
    found = sorted((g.node, re.split(r" in (?:the note body|property)", g.message)[0]) for g in gaps)
    assert found == [
        ("Agents/Bot", "value that looks like a Slack webhook URL"),
        ("People/Ada", "value that looks like a Telegram bot token"),
        ("People/Ada", "value that looks like a password in a URL"),
        ("Teams/Ops", "value that looks like a ntfy access token"),
    ]
    text = " ".join(g.message for g in gaps)
    for secret in ("XXXXXXXXXXXXXXXXXXXXXXXX", "pa55word", "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1", "tk_AgQdq7mVBoFD37zQVN29"):
        assert secret not in text
