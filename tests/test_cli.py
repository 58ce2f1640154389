"""Every CLI command has help and is documented in the README; errors are one line and exit 1."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from brain.cli import build_parser, main

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def _commands() -> list[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sorted(sub.choices)


@pytest.mark.parametrize("command", _commands())
def test_every_command_has_help_and_is_in_the_readme(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    assert len(capsys.readouterr().out) > 100
    assert re.search(rf"\bbrain {command}\b", README), f"`brain {command}` is not in the README"


def test_unknown_name_is_one_clear_line(make_vault, capsys):
    root = make_vault({"Agents/Support Agent.md": "---\ntype: agent\n---\n"})
    assert main(["show", "Suport Agent", "--vault", str(root)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["Error: no note named 'Suport Agent'; did you mean 'Support Agent'?"]


def test_missing_vault_is_one_clear_line(tmp_path, capsys):
    assert main(["graph", "--vault", str(tmp_path / "nope")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("Error: vault folder")


def test_check_reports_unclaimed_usage_and_unpriced_models(make_vault, capsys):
    import json

    import pyarrow as pa

    from brain.ingest import ingest_table
    from brain.store import Store

    root = make_vault({"Agents/Bot.md": "---\ntype: agent\nowner: '[[Ada]]'\napi_keys: [key_bot]\n---\n", "People/Ada.md": ""})
    from datetime import UTC, datetime, timedelta

    when = (datetime.now(UTC) - timedelta(days=9)).isoformat()
    table = pa.table({
        "timestamp": [when] * 4,
        "api_key_id": ["key_bot", "key_nobody", "key_bot", None],
        "provider": ["openai", "openai", "acme", "acme"],
        "model": ["gpt-4o-mini", "gpt-4o-mini", "acme-llm-9", "acme-llm-9"],
        "input_tokens": [1000, 2000, 10, 10],
        "output_tokens": [100, 200, 1, 1],
        "request_id": ["a", "b", "c", "d"],
    })
    with Store(root / ".brain" / "usage.duckdb") as st:
        ingest_table(st, table, source="test")
    capsys.readouterr()
    assert main(["check", "--vault", str(root), "--json"]) == 0  # warnings only: exit 0
    gaps = json.loads(capsys.readouterr().out)["gaps"]
    kinds = {(g["kind"], g["node"]) for g in gaps}
    assert ("unpriced_model", "acme/acme-llm-9") in kinds
    assert any(k == "unclaimed_usage" and "key_nobody" in n for k, n in kinds)
    assert not any("key_bot" in n for k, n in kinds if k == "unclaimed_usage")
    (anonymous,) = [g for g in gaps if g["kind"] == "unclaimed_usage" and g["node"] == "-"]
    assert "no agent, key or service name (1 requests) spent an unpriced amount" in anonymous["message"]
    assert "$0" not in anonymous["message"] and "None" not in anonymous["message"]


def test_check_warns_when_a_key_is_fed_by_an_export_and_by_telemetry(make_vault, capsys):
    """The same calls from a provider usage export and from per-request events: counted twice."""
    import json
    import shutil
    from pathlib import Path

    root = make_vault({"Agents/Support.md": "---\ntype: agent\nowner: '[[Ada]]'\napi_keys: [key_support01]\n---\n", "People/Ada.md": ""})
    export = Path(__file__).parent / "fixtures" / "exports" / "openai_usage.json"
    shutil.copy(export, root.parent / "openai_usage.json")
    day = "2025-06-01T10:00:00Z"  # the fixture's first bucket day (1748736000)
    (root.parent / "spans.jsonl").write_text(json.dumps({
        "timestamp": day, "api_key_id": "key_support01", "provider": "openai", "model": "gpt-4o-2024-08-06",
        "input_tokens": 1000, "output_tokens": 100, "request_id": "req-1"}) + "\n", encoding="utf-8")
    store = root / ".brain" / "usage.duckdb"
    for f in ("openai_usage.json", "spans.jsonl"):
        assert main(["ingest", str(root.parent / f), "--vault", str(root), "--store", str(store)]) == 0
    capsys.readouterr()
    from brain.brain import Brain
    from brain.settings import Settings

    brain = Brain.open(Settings(vault=root, store=store))
    gaps = [g for g in brain.inventory_gaps(days=100_000) if g.kind == "overlapping_sources"]
    brain.close()
    assert [g.node for g in gaps] == ["key_support01"]
    assert "counted twice" in gaps[0].message


def test_ingest_of_many_files_lists_those_with_news_and_sums_up_the_rest(make_vault, tmp_path, capsys):
    import json

    root = make_vault({})
    logs = tmp_path / "logs"
    logs.mkdir()
    row = {"timestamp": "2025-06-01T10:00:00Z", "model": "gpt-4o", "input_tokens": 10, "output_tokens": 1}
    for i in range(30):
        rows = [{**row, "request_id": f"{i}-{j}"} for j in range(2)]
        if i == 7:
            rows.append({**row, "request_id": "bad", "input_tokens": -1})
        (logs / f"{i:02d}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert main(["ingest", str(logs), "--vault", str(root)]) == 0
    out = capsys.readouterr().out
    listed = [line.split()[0] for line in out.splitlines() if line.startswith(("/", "("))]
    assert listed == [str(logs / "07.jsonl"), "(and"]
    assert "(and 29 more files; --json lists every file)  " in out and "60 accepted, 0 duplicate, 1 quarantined" in out
    assert re.search(r"more files; --json lists every file\)\s+58\s+0\s+0\s+0", out)
    assert main(["ingest", str(logs), "--vault", str(root), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["files"]) == 30
