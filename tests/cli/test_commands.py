"""Every CLI command has help and is documented in the README; errors are one line and exit 1."""

from __future__ import annotations

import argparse
import csv
import re
import sys
from pathlib import Path

import pytest

from brain.cli import build_parser, main

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def _commands() -> list[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sorted(sub.choices)


@pytest.mark.parametrize("command", _commands())
def test_every_command_has_help_and_is_in_the_readme(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert len(out) > 100
    # the command's own help: its usage line, then every option it takes
    assert out.startswith(f"usage: brain {command} [-h]")
    assert "\noptions:\n  -h, --help " in out
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    for action in sub._actions:
        for flag in action.option_strings:
            assert flag in out, (command, flag)
    listed = README.split("\n## Commands\n", 1)[1].split("```sh\n", 1)[1].split("\n```", 1)[0].splitlines()
    assert any(line.startswith(f"brain {command} ") for line in listed), f"`brain {command}` has no line in the README's command list"


@pytest.mark.parametrize("command", _commands())
def test_every_command_help_says_what_it_does_and_shows_an_example(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = capsys.readouterr().out
    usage_end = out.index("\n\n")
    description = out[usage_end + 2 :].splitlines()[0]
    assert description[:1].isupper() and description.endswith("."), description
    example = out[out.index("\nexample:\n") :].splitlines()[2]
    assert example.strip().startswith(f"brain {command}"), example


def test_bare_brain_prints_help_and_version_is_known(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: brain") and "spend" in out and "--version" in out
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert re.fullmatch(r"brain \(company-brain\) \S+\n", capsys.readouterr().out)


def test_tables_fit_the_width_by_cutting_the_widest_text_columns(capsys):
    from brain.cli.common import print_table

    rows = [{"node": "Agents/" + "Very Long Agent Name " * 8, "usd": 1234.5, "why": "a reason " * 20}]
    print_table(rows, [("node", "note"), ("usd", "usd"), ("why", "problem")], width=80)
    lines = capsys.readouterr().out.splitlines()
    assert max(map(len, lines)) <= 80
    assert "1,234.50" in lines[2] and lines[2].count("…") == 2
    print_table(rows, [("node", "note"), ("usd", "usd"), ("why", "problem")])  # piped: full width
    assert "…" not in capsys.readouterr().out


def test_unknown_name_is_one_clear_line(make_vault, capsys):
    root = make_vault({"Agents/Support Agent.md": "---\ntype: agent\n---\n"})
    assert main(["show", "Suport Agent", "--vault", str(root)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["Error: no note named 'Suport Agent'; did you mean 'Support Agent'?"]


def test_missing_vault_is_one_clear_line(tmp_path, capsys):
    assert main(["graph", "--vault", str(tmp_path / "nope")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("Error: vault folder")


@pytest.mark.e2e
def test_check_reports_unclaimed_usage_and_unpriced_models(make_vault, capsys):
    import json

    import pyarrow as pa

    from brain.ingest import ingest_table
    from brain.store.database import Store

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
    # a price note prices the model: it is no longer reported unpriced (as spend no longer counts it)
    (root / "Prices").mkdir()
    (root / "Prices" / "Acme.md").write_text("---\ntype: price\nprovider: acme\nmodel: acme-llm-9\n"
                                              "input_mtok: 1\noutput_mtok: 2\n---\n")
    assert main(["check", "--vault", str(root), "--json"]) == 0
    assert "unpriced_model" not in {g["kind"] for g in json.loads(capsys.readouterr().out)["gaps"]}


@pytest.mark.e2e
def test_check_warns_when_a_key_is_fed_by_an_export_and_by_telemetry(make_vault, capsys):
    """The same calls from a provider usage export and from per-request events: counted twice."""
    import json
    import shutil
    from pathlib import Path

    root = make_vault({"Agents/Support.md": "---\ntype: agent\nowner: '[[Ada]]'\napi_keys: [key_support01]\n---\n", "People/Ada.md": ""})
    export = Path(__file__).resolve().parents[1] / "fixtures" / "exports" / "openai_usage.json"
    shutil.copy(export, root.parent / "openai_usage.json")
    day = "2025-06-01T10:00:00Z"  # the fixture's first bucket day (1748736000)
    (root.parent / "spans.jsonl").write_text(json.dumps({
        "timestamp": day, "api_key_id": "key_support01", "provider": "openai", "model": "gpt-4o-2024-08-06",
        "input_tokens": 1000, "output_tokens": 100, "request_id": "req-1"}) + "\n", encoding="utf-8")
    store = root / ".brain" / "usage.duckdb"
    for f in ("openai_usage.json", "spans.jsonl"):
        assert main(["ingest", str(root.parent / f), "--vault", str(root), "--store", str(store)]) == 0
    capsys.readouterr()
    from brain.facade import Brain
    from brain.settings import Settings

    brain = Brain.open(Settings(vault=root, store=store))
    gaps = [g for g in brain.inventory_gaps(days=100_000) if g.kind == "overlapping_sources"]
    brain.close()
    assert [g.node for g in gaps] == ["key_support01"]
    assert "counted twice" in gaps[0].message


@pytest.mark.e2e
def test_ingest_of_many_files_lists_those_with_news_and_sums_up_the_rest(make_vault, tmp_path, capsys):
    import json

    root = make_vault({"Home.md": ""})
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


# -- QA pass: errors are one `Error:` line and exit 1, read-only commands make no store -----------

ONE_AGENT = {"Agents/Bot.md": "---\ntype: agent\naliases: [Robot, Droid]\ntags: [ops]\napi_keys: [key_bot]\n---\n"}


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("Error: "), err
    return err[0]


def _usage_store(root: Path) -> Path:
    """A store under the vault with a few priced calls of key_bot, ten days ago."""
    from datetime import UTC, datetime, timedelta

    import pyarrow as pa

    from brain.ingest import ingest_table
    from brain.store.database import Store

    when = (datetime.now(UTC) - timedelta(days=10)).isoformat()
    table = pa.table({"timestamp": [when] * 3, "api_key_id": ["key_bot"] * 3, "provider": ["openai"] * 3,
                      "model": ["gpt-4o-mini"] * 3, "input_tokens": [1000] * 3, "output_tokens": [100] * 3,
                      "request_id": ["a", "b", "c"]})
    path = root / ".brain" / "usage.duckdb"
    with Store(path) as st:
        ingest_table(st, table, source="test")
    return path


@pytest.mark.parametrize(
    ("argv", "help_of"),
    [(["spend", "--by", "foo"], "brain spend"), (["spend", "--no-such-flag"], "brain spend"),
     (["anomalies", "--now", "garbage"], "brain anomalies"), (["ingest"], "brain ingest"),
     (["anomalies", "ack", "0123456789ab", "--note", "x", "--nope"], "brain anomalies ack"),
     (["no-such-command"], "brain")],
)
def test_usage_errors_are_one_error_line_and_exit_1(argv, help_of, capsys):
    assert main(argv) == 1
    line = _one_error_line(capsys)
    assert line.endswith(f"; see `{help_of} --help`") and "usage:" not in line


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["spend", "--days", "99999999"], "--days: must be a whole number of days between 1 and 100,000"),
        (["spend", "--until", "9999-12-31"], "--until: date out of range: '9999-12-31'"),
        (["spend", "--since", "0001-01-01"], "--since: date out of range"),
        (["agent", "Bot", "--days", "99999999"], "--days: must be a whole number"),
        (["reconcile", "--days", "99999999"], "--days: must be a whole number"),
        (["reconcile", "--days", "0"], "--days: must be a whole number of days between 1 and"),
        (["export", "--days", "-3"], "--days: must be a whole number of days between 1 and"),
        (["publish", "--days", "0"], "--days: must be a whole number"),
        (["anomalies", "--now", "0001-01-01T00:00:00"], "--now: date out of range"),
        (["anomalies", "--days", "500"], "--days: must be a whole number of days between 1 and 90 (got '500')"),
        (["demo", "--days", "99999999"], "--days: must be a whole number of days between 1 and 365"),
    ],
)
def test_day_counts_and_dates_out_of_range_are_refused(make_vault, argv, expected, capsys):
    root = make_vault(ONE_AGENT)
    assert main([*argv, *([] if argv[0] == "demo" else ["--vault", str(root)])]) == 1
    assert _one_error_line(capsys).startswith(f"Error: {expected}")
    assert not (root / ".brain").exists()


@pytest.mark.e2e
def test_the_widest_accepted_windows_do_not_overflow(make_vault, capsys):
    root = make_vault(ONE_AGENT)
    _usage_store(root)
    for argv in (["spend", "--days", "100000"], ["spend", "--since", "1970-01-01", "--until", "2999-12-31"],
                 ["agent", "Bot", "--days", "100000"], ["reconcile", "--days", "100000"],
                 ["export", "--days", "100000", "--out", str(root.parent / "f.csv")]):
        assert main([*argv, "--vault", str(root)]) == 0, argv
        if argv[0] != "export":  # the three calls of ten days ago, counted in every window
            assert "$0.0006" in capsys.readouterr().out, argv
    capsys.readouterr()
    with open(root.parent / "f.csv", newline="") as fh:
        assert [(r["ResourceName"], r["x_Requests"]) for r in csv.DictReader(fh)] == [("Bot", "3")]


@pytest.mark.e2e
def test_an_export_the_system_refuses_is_one_error_line(make_vault, capsys):
    root = make_vault(ONE_AGENT)
    _usage_store(root)
    out = root.parent / "no such folder" / "x.parquet"
    assert main(["export", "--vault", str(root), "--out", str(out)]) == 1
    assert _one_error_line(capsys) == f"Error: cannot write {out}: No such file or directory"
    blocker = root.parent / "a file"
    blocker.write_text("", encoding="utf-8")
    assert main(["export", "--vault", str(root), "--out", str(blocker / "x.csv")]) == 1
    assert _one_error_line(capsys) == f"Error: cannot write {blocker / 'x.csv'}: Not a directory"


def test_os_errors_name_the_path_and_the_reason():
    from brain.cli import os_error_line

    assert os_error_line(FileNotFoundError(2, "No such file or directory", "/x/y")) == "/x/y: No such file or directory"
    assert os_error_line(NotADirectoryError(20, "Not a directory", "/a", None, "/b")) == "/a -> /b: Not a directory"


@pytest.mark.e2e
def test_a_reader_that_stops_early_keeps_the_commands_exit_code(make_vault):
    """Regression: `brain check | head -1` exited 0 although check failed (BrokenPipeError -> 0)."""
    import os
    import subprocess
    import sys

    root = make_vault(ONE_AGENT)  # an agent without an owner: check fails
    brain = str(Path(sys.executable).parent / "brain")
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line is written
    try:
        for argv, code in ((["check"], 1), (["graph", "--json", "--edges"], 0)):
            run = subprocess.run([brain, *argv, "--vault", str(root)], stdout=write, stderr=subprocess.PIPE,
                                 text=True, timeout=120)
            assert (run.returncode, run.stderr) == (code, ""), argv
    finally:
        os.close(write)


def test_read_only_commands_make_no_store(tmp_path, capsys):
    """Regression: `brain anomalies` in an empty folder made .brain/usage.duckdb; `brain spend` then
    showed zeros instead of saying there is no usage store."""
    empty = tmp_path / "empty"
    (empty / ".obsidian").mkdir(parents=True)  # a vault, as Obsidian makes one, with no store yet
    missing = f"usage store {empty / '.brain' / 'usage.duckdb'} does not exist"
    for argv in (["anomalies"], ["anomalies", "ack", "0123456789ab", "--note", "x"], ["spend"],
                 ["anomalies", "ack", "0123456789ab"],  # --note is optional
                 ["quarantine"], ["reconcile"], ["export"], ["spend"]):
        assert main([*argv, "--vault", str(empty)]) == 1, argv
        assert missing in _one_error_line(capsys), argv
        assert not (empty / ".brain").exists(), argv


def test_a_folder_that_is_no_vault_is_refused_with_a_hint(tmp_path, monkeypatch, capsys):
    """Regression: `brain check` in a folder of many subfolders crawled them all (936 lines, a 43 MB
    cache); in the repository root, the package's template and the demo vault made names ambiguous."""
    root = tmp_path / "repo"
    for i in range(30):
        (root / f"src{i}").mkdir(parents=True)
        (root / f"src{i}" / "README.md").write_text("# not a note\n", encoding="utf-8")
    (root / "README.md").write_text("# a repository\n", encoding="utf-8")
    (root / "demo-vault" / ".obsidian").mkdir(parents=True)
    monkeypatch.chdir(root)
    monkeypatch.delenv("BRAIN_VAULT", raising=False)
    for argv in (["check"], ["graph"], ["show", "Support Agent"], ["spend"], ["serve"]):
        assert main(argv) == 1, argv
        line = _one_error_line(capsys)
        assert "is not a vault" in line and "--vault demo-vault" in line and "brain init" in line, line
    assert not (root / ".brain").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["graph", "--vault", str(empty)]) == 1
    assert "brain init" in _one_error_line(capsys)
    # a plain folder of notes named on purpose is read (Obsidian would open it too)
    notes = tmp_path / "notes"
    (notes / "Agents").mkdir(parents=True)
    (notes / "Agents" / "Bot.md").write_text("---\ntype: agent\n---\n", encoding="utf-8")
    assert main(["graph", "--vault", str(notes)]) == 0
    capsys.readouterr()


def test_a_missing_vault_is_reported_before_a_missing_store(tmp_path, capsys):
    for argv in (["spend"], ["anomalies"], ["reconcile"], ["ingest", "x.jsonl"], ["publish"]):
        assert main([*argv, "--vault", str(tmp_path / "nope")]) == 1
        assert _one_error_line(capsys) == f"Error: vault folder {str(tmp_path / 'nope')!r} does not exist or is not a folder"
    assert not (tmp_path / "nope").exists()


def test_show_prints_aliases_and_tags_once(make_vault, capsys):
    root = make_vault(ONE_AGENT)
    assert main(["show", "Bot", "--vault", str(root)]) == 0
    out = capsys.readouterr().out
    assert out.count("aliases") == 1 and "  aliases: Robot, Droid" in out
    assert out.count("tags") == 1 and "  tags: #ops" in out


def test_show_prints_list_properties_as_items_not_python_reprs(make_vault, capsys):
    root = make_vault({"Agents/Bot.md": "---\ntype: agent\napi_keys: [key_a, key_b]\nlimits: {rpm: 60}\n"
                                        "paused: false\n---\n"})
    assert main(["show", "Bot", "--vault", str(root)]) == 0
    out = capsys.readouterr().out
    assert "  api_keys: key_a, key_b" in out and "  limits: rpm: 60" in out and "  paused: false" in out
    assert "[" not in out and "{" not in out


@pytest.mark.e2e
def test_demo_and_graph_count_the_same_notes(tmp_path, capsys):
    demo = tmp_path / "demo"
    assert main(["demo", str(demo), "--seed", "1", "--days", "3"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert main(["graph", "--vault", str(demo)]) == 0
    counted = capsys.readouterr().out.splitlines()[0].split(",")[0]
    assert re.fullmatch(r"\d+ notes \(7 of them templates\)", counted)
    assert f": {counted}, " in first


@pytest.mark.e2e
def test_a_second_collect_names_the_collect_that_owns_the_store(make_vault, capsys):
    """Regression: it said a running `brain serve` owned the store, and to start that with --otlp."""
    import os

    from brain.live.control import ControlServer
    from brain.store.database import Store
    from brain.store.shared import SharedStore

    root = make_vault(ONE_AGENT)
    store = root / ".brain" / "usage.duckdb"
    Store(store).close()
    shared = SharedStore(store)
    control = ControlServer(shared, command="collect").start()  # announces itself as `brain collect` does
    try:
        assert main(["collect", "--vault", str(root)]) == 1
        line = _one_error_line(capsys)
    finally:
        control.stop()
        shared.close()
    assert line.startswith(f"Error: a running `brain collect` (pid {os.getpid()}) owns {store}") and "--otlp" not in line


def test_tables_right_align_figures_only(capsys):
    from brain.cli.common import print_table

    print_table([{"a": "Lead Enricher", "n": "$1.67", "why": "2026-11-20 retries"},
                 {"a": "Research", "n": "$171.88", "why": "prompt v4"}],
                [("a", "agent"), ("n", "per day"), ("why", "explained by")])
    lines = capsys.readouterr().out.splitlines()
    assert lines[2] == "Lead Enricher    $1.67  2026-11-20 retries"
    assert lines[3] == "Research       $171.88  prompt v4"


def test_ingest_of_nothing_readable_says_why_in_one_error_line(make_vault, tmp_path, capsys):
    vault = make_vault({"Agents/Bot.md": "---\ntype: agent\n---\n"})
    store = tmp_path / "u.duckdb"
    common = ["--vault", str(vault), "--store", str(store)]
    assert main(["ingest", *common, "--json", str(tmp_path / "missing.parquet")]) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == [f"Error: no such file: {tmp_path / 'missing.parquet'}"]
    assert not store.exists()  # nothing to read makes no store (after which `spend` would say $0)
    assert main(["ingest", *common, str(tmp_path / "a.parquet"), str(tmp_path / "b.csv")]) == 1
    assert capsys.readouterr().err.strip() == f"Error: no such file: {tmp_path / 'a.parquet'}, {tmp_path / 'b.csv'}"
    assert main(["spend", *common]) == 1  # still no store: an error, not "Total $0"
    capsys.readouterr()
    (tmp_path / "x.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    assert main(["ingest", *common, str(tmp_path / "x.csv")]) == 1
    out = capsys.readouterr()
    assert out.out == ""  # one unreadable file: the error once, not also in a table
    assert out.err.startswith("Error: nothing could be read: ")
    assert "timestamp" in out.err and "DESIGN" not in out.err and "docs/usage.md" in out.err
    (tmp_path / "missing.csv").unlink(missing_ok=True)
    assert main(["ingest", *common, str(tmp_path / "x.csv"), str(tmp_path / "missing.csv")]) == 1
    out = capsys.readouterr()
    assert "x.csv" in out.out and "missing.csv" in out.out  # several files: the table says which is which
    assert out.err.strip().endswith("(and 1 other file)")


def test_since_and_until_take_iso_times_in_utc_and_refuse_anything_else(make_vault, capsys):
    import json

    root = make_vault(ONE_AGENT)
    _usage_store(root)
    assert main(["spend", "--vault", str(root), "--json", "--since", "2026-11-28T23:00:00-05:00",
                 "--until", "2026-11-30T00:30:00"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["since"], report["until"]) == ("2026-11-29", "2026-11-30")
    for bad in ("2026-11-28x", "2026-11-28T25:00", "28/11/2026"):
        assert main(["spend", "--vault", str(root), "--until", bad]) == 1
        assert _one_error_line(capsys).startswith(f"Error: --until: not a date: {bad!r}")


def test_shell_completion_completes_commands_and_options(tmp_path):
    """As a shell asks (argcomplete's protocol), in a process of its own: completion exits it."""
    import os
    import subprocess

    out = tmp_path / "completions"
    for line, expected in (("brain ano", "anomalies"), ("brain spend --b", "--by")):
        env = {**os.environ, "_ARGCOMPLETE": "1", "COMP_LINE": line, "COMP_POINT": str(len(line)),
               "_ARGCOMPLETE_COMP_WORDBREAKS": " ", "_ARGCOMPLETE_STDOUT_FILENAME": str(out)}
        subprocess.run([sys.executable, "-c", "from brain.cli import main; main()"], env=env, check=True,
                       timeout=60, stdin=subprocess.DEVNULL, capture_output=True)
        assert expected in out.read_text(encoding="utf-8").split(), out.read_text(encoding="utf-8")
