"""brain.notes: client paths never leave the vault; writes keep every other byte and refuse stale notes."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from brain import notes
from brain.errors import BrainError, NotFound
from brain.vault import parse_note

AGENT = """\
---
type: agent
agent_id: support-agent   # the id in usage rows
aliases: [Support Bot]
owner: "[[Ada Lovelace]]"
depends_on:
  - "[[Vector Store]]"
tags: [customer-facing]
---
# Support Agent

Answers questions.   Trailing spaces stay.\t
"""


@pytest.fixture
def vault(tmp_path: Path) -> Path:
    root = tmp_path / "vault"
    (root / "Agents").mkdir(parents=True)
    (root / "Agents" / "Support Agent.md").write_text(AGENT, encoding="utf-8")
    (root / ".obsidian").mkdir()
    (root / ".obsidian" / "secret.md").write_text("hidden", encoding="utf-8")
    (tmp_path / "outside.md").write_text("outside the vault", encoding="utf-8")
    return root


@pytest.mark.parametrize(
    "path",
    [
        "../outside.md",
        "Agents/../../outside.md",
        "..\\outside.md",
        "/etc/passwd",
        "C:/Windows/win.ini",
        "~/notes.md",
        "%2e%2e/outside.md",
        "..%2Foutside.md",
        "%252e%252e%252foutside.md",
        ".obsidian/secret.md",
        "Agents/.hidden/x.md",
        "a\x00b.md",
        "",
        "file:///etc/passwd",
    ],
)
def test_paths_that_leave_the_vault_or_hide_are_refused(vault, path):
    with pytest.raises(notes.UnsafePath):
        notes.safe_note_path(vault, path)


def test_symlink_pointing_outside_the_vault_is_refused(vault, tmp_path):
    (vault / "Agents" / "Escape.md").symlink_to(tmp_path / "outside.md")
    with pytest.raises(notes.UnsafePath, match="outside the vault"):
        notes.read_note_text(vault, "Agents/Escape.md")


def test_symlinked_folder_pointing_outside_is_refused(vault, tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "Note.md").write_text("x", encoding="utf-8")
    (vault / "Linked").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(notes.UnsafePath):
        notes.read_note_text(vault, "Linked/Note.md")


def test_symlink_inside_the_vault_is_followed(vault):
    (vault / "Agents" / "Alias.md").symlink_to(vault / "Agents" / "Support Agent.md")
    assert notes.read_note_text(vault, "Agents/Alias").text == AGENT


def test_read_accepts_path_without_md_and_url_encoded_spaces(vault):
    assert notes.read_note_text(vault, "Agents/Support Agent").path == "Agents/Support Agent.md"
    assert notes.read_note_text(vault, "Agents/Support%20Agent.md").text == AGENT


def test_missing_note_suggests_close_names(vault):
    with pytest.raises(NotFound) as err:
        notes.read_note_text(vault, "Agents/Suport Agent.md")
    assert err.value.suggestions == ["Agents/Support Agent.md"]


def test_set_owner_changes_only_the_owner_line(vault):
    path = vault / "Agents" / "Support Agent.md"
    before = path.read_bytes()
    notes.set_owner(vault, "Agents/Support Agent.md", "[[Alan Turing]]")
    after = path.read_bytes()
    assert after == before.replace(b'owner: "[[Ada Lovelace]]"', b'owner: "[[Alan Turing]]"')


def test_set_owner_keeps_crlf_and_replaces_a_multiline_value(vault):
    text = '---\r\ntype: agent\r\nowner:\r\n  - "[[Ada]]"\r\n  - "[[Bob]]"\r\nstatus: active\r\n---\r\nBody\r\n'
    p = vault / "Agents" / "Crlf.md"
    p.write_bytes(text.encode())
    notes.set_owner(vault, "Agents/Crlf.md", "[[Platform]]")
    assert p.read_bytes() == b'---\r\ntype: agent\r\nowner: "[[Platform]]"\r\nstatus: active\r\n---\r\nBody\r\n'


def test_set_owner_adds_the_property_when_missing(vault):
    p = vault / "Agents" / "New.md"
    p.write_text("---\ntype: agent\n---\n# New\n", encoding="utf-8")
    notes.set_owner(vault, "Agents/New.md", "[[Platform]]")
    assert p.read_text() == '---\ntype: agent\nowner: "[[Platform]]"\n---\n# New\n'
    p.write_text("# No frontmatter\n", encoding="utf-8")
    notes.set_owner(vault, "Agents/New.md", "[[Platform]]")
    assert parse_note("Agents/New", p.read_text()).properties == {"owner": "[[Platform]]"}


def test_set_owner_refuses_a_note_changed_since_read(vault):
    path = vault / "Agents" / "Support Agent.md"
    stamp = notes.read_note_text(vault, "Agents/Support Agent.md")
    path.write_text(AGENT + "edited in Obsidian\n", encoding="utf-8")
    os.utime(path, ns=(stamp.mtime_ns + 10**9, stamp.mtime_ns + 10**9))
    with pytest.raises(notes.NoteChanged):
        notes.set_owner(vault, "Agents/Support Agent.md", "[[X]]", expected_sha256=stamp.sha256)
    with pytest.raises(notes.NoteChanged):
        notes.set_owner(vault, "Agents/Support Agent.md", "[[X]]", expected_mtime_ns=stamp.mtime_ns)
    assert path.read_text().endswith("edited in Obsidian\n")


def test_record_change_fills_the_vault_template_and_never_overwrites(vault):
    template = Path(__file__).parents[1] / "brain" / "vault_template" / "Templates" / "Change.md"
    (vault / "Templates").mkdir()
    (vault / "Templates" / "Change.md").write_bytes(template.read_bytes())
    when = dt.datetime(2025, 2, 3, 9, 30, tzinfo=dt.UTC)
    first = notes.record_change(vault, "Support Agent", "model", "Switched to gpt-4.1", when)
    second = notes.record_change(vault, "Support Agent", "model", "Switched back", when)
    assert first.path == "Changes/2025-02-03 Support Agent model.md"
    assert second.path == "Changes/2025-02-03 Support Agent model 2.md"
    note = parse_note(first.path[:-3], (vault / first.path).read_text())
    assert note.type == "change"
    assert note.properties["agent"] == "[[Support Agent]]"
    assert note.properties["kind"] == "model"
    assert note.properties["summary"] == "Switched to gpt-4.1"
    assert note.properties["date"].startswith("2025-02-03T09:30:00")
    assert "[!tip]" not in note.body and "{{" not in note.body
    assert "Switched to gpt-4.1" in note.body


def test_record_change_without_a_template_uses_the_builtin_one(vault):
    result = notes.record_change(vault, "Support Agent", "deploy", "v2 live")
    note = parse_note(result.path[:-3], (vault / result.path).read_text())
    assert note.type == "change" and note.properties["agent"] == "[[Support Agent]]"


def test_record_change_rejects_unknown_kind_and_empty_summary(vault):
    with pytest.raises(BrainError, match="use one of deploy"):
        notes.record_change(vault, "Support Agent", "rewrite", "x")
    with pytest.raises(BrainError, match="summary"):
        notes.record_change(vault, "Support Agent", "deploy", "   ")


def test_parse_when_reads_iso_and_explains_bad_input():
    assert notes.parse_when("2025-01-15") == dt.datetime(2025, 1, 15, tzinfo=dt.UTC)
    assert notes.parse_when("2025-01-15T10:00:00Z").hour == 10
    with pytest.raises(BrainError, match="ISO 8601"):
        notes.parse_when("last tuesday")


def test_a_path_matches_its_file_in_either_unicode_form(vault):
    (vault / "People").mkdir()
    (vault / "People" / "Jose\u0301.md").write_text("decomposed, as macOS writes it", encoding="utf-8")
    (vault / "People" / "Zo\u00eb.md").write_text("composed", encoding="utf-8")
    assert notes.read_note_text(vault, "People/Jos\u00e9").text == "decomposed, as macOS writes it"
    assert notes.read_note_text(vault, "People/Zoe\u0308.md").text == "composed"
