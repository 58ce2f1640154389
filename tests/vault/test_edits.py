"""brain.vault.edits: client paths never leave the vault; writes keep every other byte and refuse stale notes."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from brain.errors import BrainError, NotFound, VaultError
from brain.facade import Brain
from brain.settings import Settings
from brain.vault import edits as notes
from brain.vault.reader import parse_note

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
    with pytest.raises(notes.UnsafePath, match=r"'Linked/Note.md': it resolves \(through a symlink\) outside the vault"):
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
    with pytest.raises(notes.NoteChanged, match="changed on disk since the brain read it; nothing was written"):
        notes.set_owner(vault, "Agents/Support Agent.md", "[[X]]", expected_sha256=stamp.sha256)
    with pytest.raises(notes.NoteChanged, match="changed on disk since the brain read it; nothing was written"):
        notes.set_owner(vault, "Agents/Support Agent.md", "[[X]]", expected_mtime_ns=stamp.mtime_ns)
    assert path.read_text().endswith("edited in Obsidian\n")


def test_record_change_fills_the_vault_template_and_never_overwrites(vault):
    template = Path(__file__).resolve().parents[2] / "vault_template" / "Templates" / "Change.md"
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


# -- regressions from the QA pass on note writes (/tmp/qa/safety.md) ----------------------------

NOTE = '---\ntype: agent\nowner: "[[Bob]]"\nmodel: gpt-4o\n---\n# Bot\nTen pages the user wrote.\n'


def _brain(vault: Path, tmp_path: Path) -> Brain:
    for person in ("Ada", "Bob"):
        (vault / "People").mkdir(exist_ok=True)
        (vault / "People" / f"{person}.md").write_text("---\ntype: person\n---\n", encoding="utf-8")
    b = Brain.open(Settings(vault=vault, store=tmp_path / "usage.duckdb"))
    b.graph  # noqa: B018 - the brain has read every note
    return b


def _set_mtime(path: Path, mtime_ns: int) -> None:
    os.utime(path, ns=(mtime_ns, mtime_ns))


def test_set_owner_never_writes_over_a_note_an_editor_has_truncated(vault, tmp_path):
    path = vault / "Agents" / "Bot.md"
    path.write_text(NOTE, encoding="utf-8")
    b = _brain(vault, tmp_path)
    stamp = path.stat().st_mtime_ns
    with path.open("w"):  # an in-place save has begun: the file is empty ...
        _set_mtime(path, stamp)  # ... with the mtime the brain saw (coarse clocks, sync tools)
        for _ in range(2):  # and a retry after the refusal does not write either
            with pytest.raises(notes.NoteChanged):
                b.set_owner("Agents/Bot", "Ada")
        assert path.read_bytes() == b""
    path.write_text(NOTE + "one more line typed\n", encoding="utf-8")  # the save completes
    with pytest.raises(notes.NoteChanged):
        b.set_owner("Agents/Bot", "Ada")  # what the brain holds is stale: re-read, then retry
    b.set_owner("Agents/Bot", "Ada")
    assert path.read_text() == NOTE.replace("[[Bob]]", "[[Ada]]") + "one more line typed\n"


def test_set_owner_refuses_changed_content_behind_an_unchanged_mtime(vault, tmp_path):
    path = vault / "Agents" / "Bot.md"
    path.write_text(NOTE, encoding="utf-8")
    b = _brain(vault, tmp_path)
    stamp = path.stat().st_mtime_ns
    edited = NOTE.replace("Ten pages", "Eleven pages")
    path.write_text(edited, encoding="utf-8")
    _set_mtime(path, stamp)
    with pytest.raises(notes.NoteChanged, match="changed on disk"):
        b.set_owner("Agents/Bot", "Ada")
    assert path.read_text() == edited


def test_an_empty_note_written_moments_ago_is_refused_as_mid_save(vault):
    path = vault / "Agents" / "Bot.md"
    path.write_bytes(b"")
    written_s = path.stat().st_mtime_ns / 1e9
    moments_later = notes.Settle(sleep=lambda s: None, now=lambda: written_s + 0.1)
    with pytest.raises(notes.NoteBusy, match="being saved right now.*Retry"):
        notes.set_owner(vault, "Agents/Bot.md", "[[Ada]]", settle=moments_later)
    assert path.read_bytes() == b""
    an_hour_later = notes.Settle(sleep=lambda s: None, now=lambda: written_s + 3600)
    notes.set_owner(vault, "Agents/Bot.md", "[[Ada]]", settle=an_hour_later)  # a note that really is empty
    assert path.read_text() == '---\nowner: "[[Ada]]"\n---\n'


def test_a_just_written_note_is_read_again_until_it_holds_still(vault):
    path = vault / "Agents" / "Bot.md"
    path.write_bytes(b"")  # read mid-save ...
    written_s = path.stat().st_mtime_ns / 1e9
    waits = []

    def editor_finishes(seconds: float) -> None:
        if not waits:
            path.write_text(NOTE, encoding="utf-8")  # ... and the save completes while the brain waits
        waits.append(seconds)

    notes.set_owner(vault, "Agents/Bot.md", "[[Ada]]", settle=notes.Settle(sleep=editor_finishes, now=lambda: written_s))
    assert path.read_text() == NOTE.replace("[[Bob]]", "[[Ada]]")
    assert len(waits) == 2  # one wait saw the save land, the next saw it hold still


def test_a_note_that_keeps_changing_is_refused_retryably(vault):
    path = vault / "Agents" / "Bot.md"
    path.write_text(NOTE, encoding="utf-8")
    written_s = path.stat().st_mtime_ns / 1e9

    def editor_keeps_typing(seconds: float) -> None:
        path.write_text(path.read_text() + "x", encoding="utf-8")

    busy = notes.Settle(sleep=editor_keeps_typing, now=lambda: written_s)
    with pytest.raises(notes.NoteBusy, match="kept changing for 1 s"):
        notes.set_owner(vault, "Agents/Bot.md", "[[Ada]]", settle=busy)
    assert "[[Bob]]" in path.read_text()


def test_bytes_changed_between_the_read_and_the_replace_are_never_overwritten(vault, monkeypatch):
    path = vault / "Agents" / "Bot.md"
    path.write_text(NOTE, encoding="utf-8")
    _set_mtime(path, 10**18)  # long settled
    real_edit = notes.edit_property

    def edit_while_the_editor_saves(*args):
        out = real_edit(*args)
        path.write_text(NOTE + "typed meanwhile\n", encoding="utf-8")
        return out

    monkeypatch.setattr(notes, "edit_property", edit_while_the_editor_saves)
    with pytest.raises(notes.NoteChanged):
        notes.set_owner(vault, "Agents/Bot.md", "[[Ada]]")
    assert path.read_text() == NOTE + "typed meanwhile\n"


def test_set_owner_keeps_a_bom_first_and_edits_the_frontmatter_after_it(vault):
    path = vault / "Agents" / "Bom.md"
    before = ("\ufeff" + NOTE).encode()
    path.write_bytes(before)
    notes.set_owner(vault, "Agents/Bom.md", "[[Ada]]")
    assert path.read_bytes() == before.replace(b"[[Bob]]", b"[[Ada]]")
    assert parse_note("Agents/Bom", path.read_text()).properties["model"] == "gpt-4o"


def test_record_change_from_a_bom_template_gives_one_frontmatter(vault):
    template = '---\ntype: change\nagent: ""\ndate: ""\nkind: deploy\nsummary: ""\n---\n# {{title}}\n\n## What changed\n'
    (vault / "Templates").mkdir()
    (vault / "Templates" / "Change.md").write_bytes(("\ufeff" + template).encode())
    result = notes.record_change(vault, "Support Agent", "model", "Switched", dt.datetime(2025, 2, 3, tzinfo=dt.UTC))
    text = (vault / result.path).read_text(encoding="utf-8")
    assert text.count("---\n") == 2
    note = parse_note(result.path[:-3], text)
    assert (note.type, note.properties["kind"], note.properties["summary"]) == ("change", "model", "Switched")


def test_set_owner_replaces_a_block_value_with_a_blank_line_inside(vault):
    path = vault / "Agents" / "Folded.md"
    path.write_bytes(b"---\ntype: agent\nowner: >\n  Bob the\n\n  builder\n\nmodel: x\n---\nBody\n")
    notes.set_owner(vault, "Agents/Folded.md", "[[Ada]]")
    assert path.read_bytes() == b'---\ntype: agent\nowner: "[[Ada]]"\n\nmodel: x\n---\nBody\n'


def test_a_repeated_owner_key_changes_the_one_the_reader_keeps(vault):
    path = vault / "Agents" / "Dup.md"
    path.write_bytes(b'---\ntype: agent\nowner: "[[Bob]]"\nmodel: x\nowner: "[[Bob]]"\n---\nBody\n')
    result = notes.set_owner(vault, "Agents/Dup.md", "[[Ada]]")
    assert path.read_bytes() == b'---\ntype: agent\nowner: "[[Bob]]"\nmodel: x\nowner: "[[Ada]]"\n---\nBody\n'
    assert parse_note("Agents/Dup", path.read_text()).properties["owner"] == "[[Ada]]"
    assert "the last one, the one that counts" in result.summary


def test_owner_under_two_spellings_is_refused_not_reported_done(vault):
    path = vault / "Agents" / "Dup.md"
    before = b'---\ntype: agent\nOwner: "[[Bob]]"\nowner: "[[Bob]]"\n---\nBody\n'
    path.write_bytes(before)
    with pytest.raises(VaultError, match="more than once under different spellings"):
        notes.set_owner(vault, "Agents/Dup.md", "[[Ada]]")
    assert path.read_bytes() == before


def test_set_owner_keeps_a_trailing_comment_and_the_lines_own_ending(vault):
    path = vault / "Agents" / "Mixed.md"
    path.write_bytes(b'---\ntype: agent\nowner: "[[Bob]]"  # who to ask\r\nmodel: x\n---\nBody\r\n')
    notes.set_owner(vault, "Agents/Mixed.md", "[[Ada]]")
    assert path.read_bytes() == b'---\ntype: agent\nowner: "[[Ada]]"  # who to ask\r\nmodel: x\n---\nBody\r\n'


def test_a_leading_rule_without_a_closing_one_is_no_frontmatter_as_the_reader_says(vault):
    path = vault / "Agents" / "Rule.md"
    path.write_bytes(b"---\nText after a rule, no closing\n")
    notes.set_owner(vault, "Agents/Rule.md", "[[Ada]]")
    note = parse_note("Agents/Rule", path.read_text())
    assert note.properties == {"owner": "[[Ada]]"}
    assert note.body == "---\nText after a rule, no closing\n"


def test_record_change_keeps_macros_in_the_summary_as_written(vault):
    summary = "Renamed the {{title}} placeholder and {{date}} macro"
    result = notes.record_change(vault, "Support Agent", "prompt", summary, dt.datetime(2026, 11, 1, tzinfo=dt.UTC))
    note = parse_note(result.path[:-3], (vault / result.path).read_text())
    assert note.properties["summary"] == summary
    assert summary in note.body
    assert note.body.startswith("# 2026-11-01 Support Agent prompt\n")


def test_set_owner_refuses_a_read_only_note(vault):
    path = vault / "Agents" / "Locked.md"
    path.write_text(NOTE, encoding="utf-8")
    path.chmod(0o444)
    with pytest.raises(VaultError, match="read-only .mode 0444.*chmod u\\+w"):
        notes.set_owner(vault, "Agents/Locked.md", "[[Ada]]")
    assert path.read_text() == NOTE
    assert path.stat().st_mode & 0o777 == 0o444


_values = st.one_of(st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp")), max_size=12), st.integers())


@given(
    bom=st.booleans(),
    props=st.dictionaries(st.sampled_from(["type", "model", "status", "tags"]), _values, max_size=3),
    owner_at=st.none() | st.integers(0, 3),
    comment=st.sampled_from(["", "  # who", " #x"]),
    endings=st.lists(st.sampled_from(["\n", "\r\n"]), min_size=8, max_size=8),
    body=st.text(max_size=30),
)
def test_set_owner_round_trips_through_the_reader_and_changes_only_the_owner_line(bom, props, owner_at, comment, endings, body):
    lines = [f"{k}: {notes.yaml_string(str(v))}" for k, v in props.items()]
    if owner_at is not None:
        lines.insert(min(owner_at, len(lines)), f'owner: "[[Bob]]"{comment}')
    framed = ["---", *lines, "---"]
    text = ("\ufeff" if bom else "") + "".join(line + endings[i] for i, line in enumerate(framed)) + body
    out = notes.set_frontmatter_property(text, "owner", '"[[Ada]]"')
    note = parse_note("Agents/X", out)
    assert note.properties == {**{k: str(v) for k, v in props.items()}, "owner": "[[Ada]]"}
    assert out.startswith("\ufeff---") if bom else out.startswith("---")
    if owner_at is not None:
        assert out == text.replace(f'owner: "[[Bob]]"{comment}', f'owner: "[[Ada]]"{comment}')
