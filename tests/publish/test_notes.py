"""brain publish: generated cost notes, dashboard, Bases file and charts, only inside Brain/."""

from __future__ import annotations

import datetime as dt
import hashlib
import xml.etree.ElementTree as ET

import pytest
import yaml

from brain.demo.build import build_demo
from brain.errors import VaultError
from brain.facade import Brain
from brain.settings import Settings
from brain.vault.reader import read_vault

NOW = dt.datetime(2026, 11, 20, 15, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def demo_vault(tmp_path_factory):
    root = tmp_path_factory.mktemp("pub") / "vault"
    build_demo(root, seed=3, days=40, now=NOW)
    return root


def _snapshot(root, skip_prefix="Brain/"):
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and not rel.startswith(skip_prefix) and not rel.startswith(".brain/"):
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.mark.e2e
def test_publish_writes_parseable_notes_with_the_agents_figures(demo_vault):
    before = _snapshot(demo_vault)
    brain = Brain.open(Settings.from_env(demo_vault))
    report = brain.publish(now=NOW)
    assert report.written and not report.removed
    assert _snapshot(demo_vault) == before  # nothing outside Brain/ was touched
    vault = read_vault(demo_vault)
    fields = brain.agent_cost_fields(days=30, now=NOW)
    agents = brain.graph.nodes_of_type("agent")
    assert agents
    for nid in agents:
        name = brain.graph.name_of(nid)
        note = vault.notes[f"Brain/Costs/{name} cost"]
        props = note.properties
        assert props["brain_generated"] is True and note.error is None
        assert props["agent"] == f"[[{nid}|{name}]]"
        assert props["spend_usd"] == pytest.approx(fields[nid]["spend_usd"], abs=1e-4)
        assert props["projected_30d_usd"] == pytest.approx(fields[nid]["projected_30d_usd"], abs=0.01)
        assert any(lk.target == nid for lk in note.links)  # backlink to the agent note
    # names stay unambiguous: the cost note is never what a name lookup returns
    brain2 = Brain.open(Settings.from_env(demo_vault))
    assert brain2.graph.find(brain.graph.name_of(agents[0])) == agents[0]
    brain.close()
    brain2.close()


@pytest.mark.e2e
def test_dashboard_total_equals_brain_spend(demo_vault):
    brain = Brain.open(Settings.from_env(demo_vault))
    brain.publish(now=NOW)
    dash = read_vault(demo_vault).notes["Brain/Cost Dashboard"]
    total = brain.cost_leaderboard(group_by="agent", days=30, now=NOW.replace(minute=0))["total_usd"]
    assert dash.properties["total_usd"] == pytest.approx(total, abs=0.01)
    assert "## By team" in dash.body and "## Open anomalies" in dash.body
    brain.close()


@pytest.mark.e2e
def test_svg_and_base_files_are_valid(demo_vault):
    brain = Brain.open(Settings.from_env(demo_vault))
    brain.publish(now=NOW)
    charts = sorted((demo_vault / "Brain/Costs/charts").glob("*.svg"))
    assert len(charts) == len(brain.graph.nodes_of_type("agent"))
    for c in charts:
        root = ET.fromstring(c.read_text(encoding="utf-8"))
        assert root.tag.endswith("svg")
        assert len([e for e in root.iter() if e.tag.endswith("rect")]) >= 60
    base = yaml.safe_load((demo_vault / "Brain/Agents by cost.base").read_text(encoding="utf-8"))
    assert set(base) >= {"filters", "views"}
    view = base["views"][0]
    assert view["type"] == "table" and "note.spend_usd" in view["order"]
    assert view["sort"][0] == {"property": "note.spend_usd", "direction": "DESC"}
    brain.close()


@pytest.mark.e2e
def test_publish_twice_changes_nothing(demo_vault):
    brain = Brain.open(Settings.from_env(demo_vault))
    brain.publish(now=NOW)
    mtimes = {p: p.stat().st_mtime_ns for p in (demo_vault / "Brain").rglob("*") if p.is_file()}
    again = brain.publish(now=NOW)
    assert again.written == [] and again.removed == []
    assert {p: p.stat().st_mtime_ns for p in (demo_vault / "Brain").rglob("*") if p.is_file()} == mtimes
    brain.close()


@pytest.mark.e2e
def test_files_of_agents_that_are_gone_are_removed(demo_vault, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(demo_vault, copy)
    brain = Brain.open(Settings.from_env(copy))
    brain.publish(now=NOW)
    victim = brain.graph.nodes_of_type("agent")[0]
    name = brain.graph.name_of(victim)
    brain.close()
    (copy / f"{victim}.md").unlink()
    (copy / "Brain/Costs/My own note.md").write_text("a person's note in the folder", encoding="utf-8")
    brain = Brain.open(Settings.from_env(copy))
    report = brain.publish(now=NOW)
    assert f"Brain/Costs/{name} cost.md" in report.removed
    assert not (copy / f"Brain/Costs/{name} cost.md").exists()
    assert (copy / "Brain/Costs/My own note.md").exists()  # not generated: never removed
    brain.close()


def test_publish_folder_must_stay_inside_the_vault(demo_vault):
    brain = Brain.open(Settings.from_env(demo_vault))
    with pytest.raises(VaultError, match=r"publish folder '\.\./outside' must be inside the vault"):
        brain.publish(folder="../outside", now=NOW)
    with pytest.raises(VaultError, match=r"publish folder '\.hidden' must not be a hidden folder"):
        brain.publish(folder=".hidden", now=NOW)
    assert not (demo_vault.parent / "outside").exists() and not (demo_vault / ".hidden").exists()
    brain.close()


def _copy(demo_vault, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(demo_vault, copy)
    return copy


@pytest.mark.e2e
def test_published_run_rate_is_brain_spends_at_the_same_moment(demo_vault, tmp_path):
    """Regression: publish cut `now` to the hour while the daily rollups hold every event so far,
    so its run-rate and projection were a little above `brain spend`'s."""
    copy = _copy(demo_vault, tmp_path)
    moment = NOW + dt.timedelta(minutes=47)
    brain = Brain.open(Settings.from_env(copy))
    brain.publish(now=moment)
    fields = brain.agent_cost_fields(days=30, now=moment)
    dash = read_vault(copy).notes["Brain/Cost Dashboard"]
    board = brain.cost_leaderboard(group_by="agent", days=30, now=moment)
    vault = read_vault(copy)
    for nid in brain.graph.nodes_of_type("agent"):
        props = vault.notes[f"Brain/Costs/{brain.graph.name_of(nid)} cost"].properties
        rate = fields[nid]["run_rate_usd_per_day"]
        assert props["run_rate_usd_per_day"] == (None if rate is None else round(rate, 4)), nid
    assert f"{board['rows'][0]['run_rate_usd_per_day']:,.2f}" in dash.body.replace("$", "")
    brain.close()


@pytest.mark.e2e
def test_charts_mark_every_day_an_anomaly_was_active(demo_vault, tmp_path):
    """Regression: only the onset day was red; the README says anomalies are red."""
    copy = _copy(demo_vault, tmp_path)
    brain = Brain.open(Settings.from_env(copy))
    brain.publish(now=NOW)
    found = [a for a in brain.anomalies(days=14, now=NOW) if a["status"] == "open"]
    longer = [a for a in found if a["ongoing"] or a["onset"][:10] != a["last_bucket"][:10]]
    assert longer  # the demo's research prompt shift lasts days
    for a in found:
        first = dt.date.fromisoformat(a["onset"][:10])
        last = NOW.date() if a["ongoing"] else dt.date.fromisoformat(a["last_bucket"][:10])
        svg = ET.fromstring((copy / f"Brain/Costs/charts/{a['agent']} spend.svg").read_text(encoding="utf-8"))
        red = {e.find("{http://www.w3.org/2000/svg}title").text[:10]
               for e in svg.iter("{http://www.w3.org/2000/svg}rect") if e.get("fill") == "#d33"}
        days = {(first + dt.timedelta(days=i)).isoformat() for i in range((last - first).days + 1)}
        assert days <= red, a["agent"]
    brain.close()


def test_publish_refuses_a_folder_that_is_not_a_vault(tmp_path, capsys):
    from brain.cli import main

    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "notes.txt").write_text("not a note", encoding="utf-8")
    assert main(["publish", "--vault", str(tmp_path / "plain")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("Error: ") and "is not a vault" in err[0]
    assert not (tmp_path / "plain" / "Brain").exists() and not (tmp_path / "plain" / ".brain").exists()


def test_publish_where_brain_is_a_file_is_one_error_line(demo_vault, tmp_path, capsys):
    from brain.cli import main

    copy = _copy(demo_vault, tmp_path)
    import shutil

    shutil.rmtree(copy / "Brain", ignore_errors=True)
    (copy / "Brain").write_text("a file, not a folder", encoding="utf-8")
    assert main(["publish", "--vault", str(copy)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"Error: cannot publish into Brain/: {copy / 'Brain'} is a file, not a folder"]


@pytest.mark.e2e
def test_links_to_agents_still_open_the_agent_notes_after_publishing(demo_vault, tmp_path):
    """Cost notes must not capture `[[Agent]]`: the demo's scripts live two folders down
    (Agents/Scripts/), as deep as Brain/Costs/, so a same-named cost note won Obsidian's tie-break."""
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(demo_vault, copy)
    before = Brain.open(Settings.from_env(copy))
    edges = sorted((u, v, r) for u, v, r in before.graph.g.edges(data="relation") if not u.startswith("Brain/"))
    before.close()
    brain = Brain.open(Settings.from_env(copy))
    brain.publish(now=NOW)
    brain.close()
    after = Brain.open(Settings.from_env(copy))
    assert sorted((u, v, r) for u, v, r in after.graph.g.edges(data="relation") if not u.startswith("Brain/")) == edges
    assert any(u.startswith("Changes/") and v.startswith("Agents/Scripts/") for u, v, _ in edges)
    after.close()


def _publish(vault, **kw):
    brain = Brain.open(Settings.from_env(vault))
    try:
        return brain.publish(now=NOW, **kw)
    finally:
        brain.close()


USER_FILES = {  # a person's files in Brain/, some at a generated file's place or quoting its markers
    "Brain/Cost Dashboard.md": "# Cost Dashboard\nMy own hand-written dashboard notes. Do not lose me.\n",
    "Brain/Costs/charts/my diagram.svg": '<svg xmlns="http://www.w3.org/2000/svg"><title>my own diagram</title></svg>\n',
    "Brain/Costs/logo.svg": '<svg xmlns="http://www.w3.org/2000/svg"><title>team logo</title></svg>\n',
    "Brain/Costs/README.md": "# How to read the cost notes\nThe notes here are generated by Company Brain; this one I wrote myself.\n",
    "Brain/Costs/Budget 2027.md": "---\nmy_flag: brain_generated: true\n---\nmine\n",
}


def _write_user_files(vault):
    for rel, text in USER_FILES.items():
        (vault / rel).parent.mkdir(parents=True, exist_ok=True)
        (vault / rel).write_text(text, encoding="utf-8")


def _assert_user_files_kept(vault):
    for rel, text in USER_FILES.items():
        assert (vault / rel).read_text(encoding="utf-8") == text, rel


@pytest.mark.e2e
def test_publish_never_removes_or_overwrites_files_a_person_wrote(demo_vault, tmp_path):
    """Regression (QA safety bug 2): any .svg in Brain/Costs/, notes quoting 'generated by Company Brain'
    or `brain_generated: true`, and a hand-written Cost Dashboard.md were deleted or overwritten."""
    copy = _copy(demo_vault, tmp_path)
    _write_user_files(copy)
    report = _publish(copy)
    _assert_user_files_kept(copy)
    assert report.removed == [] and report.kept == ["Brain/Cost Dashboard.md"]
    again = _publish(copy)  # still kept on the next publish, still reported
    _assert_user_files_kept(copy)
    assert again.kept == ["Brain/Cost Dashboard.md"] and again.written == [] and again.removed == []


@pytest.mark.e2e
def test_publish_keeps_a_generated_note_someone_edited(demo_vault, tmp_path):
    """An edited generated note is the editor's now: never overwritten, never removed, reported as kept."""
    copy = _copy(demo_vault, tmp_path)
    _publish(copy)
    brain = Brain.open(Settings.from_env(copy))
    first, second = brain.graph.nodes_of_type("agent")[:2]
    names = [brain.graph.name_of(first), brain.graph.name_of(second)]
    brain.close()
    edited = [copy / f"Brain/Costs/{n} cost.md" for n in names]
    for p in edited:
        p.write_text(p.read_text(encoding="utf-8") + "\nMy notes on this cost.\n", encoding="utf-8")
    texts = [p.read_text(encoding="utf-8") for p in edited]
    (copy / f"{second}.md").unlink()  # the second agent is gone: its edited cost note stays
    report = _publish(copy, days=7)  # other figures: every generated note would change
    assert [p.read_text(encoding="utf-8") for p in edited] == texts
    assert sorted(report.kept) == sorted(f"Brain/Costs/{n} cost.md" for n in names)
    assert f"Brain/Costs/charts/{names[1]} spend.svg" in report.removed  # its unedited chart goes
    assert not (copy / f"Brain/Costs/charts/{names[1]} spend.svg").exists()


@pytest.mark.e2e
def test_publish_migrates_a_folder_published_before_the_manifest(demo_vault, tmp_path):
    """A Brain/ folder written by the version without a manifest: files that start exactly as that
    version wrote them are generated (replaced, or removed with their agent); nothing else is."""
    copy = _copy(demo_vault, tmp_path)
    _publish(copy)
    brain = Brain.open(Settings.from_env(copy))
    victim = brain.graph.nodes_of_type("agent")[0]
    name = brain.graph.name_of(victim)
    brain.close()
    (copy / ".brain/publish.json").unlink()
    old_base = "# Generated by Company Brain (brain publish); edits are overwritten.\nfilters: {}\n"
    (copy / "Brain/Agents by cost.base").write_text(old_base, encoding="utf-8")
    dash = copy / "Brain/Cost Dashboard.md"  # the old dashboard: its frontmatter's first lines as written then
    dash.write_text('---\ntype: "dashboard"\nbrain_generated: true\n---\n# old dashboard\n', encoding="utf-8")
    _write_user_files(copy)
    dash.write_text('---\ntype: "dashboard"\nbrain_generated: true\n---\n# old dashboard\n', encoding="utf-8")
    (copy / f"{victim}.md").unlink()
    report = _publish(copy)
    assert sorted(report.removed) == sorted([f"Brain/Costs/{name} cost.md", f"Brain/Costs/charts/{name} spend.svg"])
    assert "Brain/Agents by cost.base" in report.written and "Brain/Cost Dashboard.md" in report.written
    assert "# old dashboard" not in dash.read_text(encoding="utf-8")
    for rel, text in USER_FILES.items():
        if rel != "Brain/Cost Dashboard.md":
            assert (copy / rel).read_text(encoding="utf-8") == text, rel
    assert (copy / ".brain/publish.json").is_file()


@pytest.mark.parametrize("linked", ["Brain/Costs", "Brain/Costs/charts", "Brain"])
def test_publish_refuses_a_symlinked_folder(demo_vault, tmp_path, capsys, linked):
    """Regression (QA safety bug 3): with Brain/Costs a symbolic link out of the vault, publish wrote
    its notes there and deleted the .svg files it found."""
    import shutil

    from brain.cli import main

    copy = _copy(demo_vault, tmp_path)
    shutil.rmtree(copy / "Brain", ignore_errors=True)
    outside = tmp_path / "outside"
    (outside / "charts").mkdir(parents=True)
    (outside / "important.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>\n', encoding="utf-8")
    (outside / "charts" / "photo.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>\n', encoding="utf-8")
    (copy / linked).parent.mkdir(parents=True, exist_ok=True)
    (copy / linked).symlink_to(outside, target_is_directory=True)
    before = sorted(p.relative_to(outside).as_posix() for p in outside.rglob("*"))
    with pytest.raises(VaultError, match="symbolic link"):
        _publish(copy)
    assert main(["publish", "--vault", str(copy)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"Error: cannot publish into {linked}/: it is a symbolic link (to {outside}); "
                   "publish writes only into real folders inside the vault"]
    assert sorted(p.relative_to(outside).as_posix() for p in outside.rglob("*")) == before
