"""Every Obsidian link form and resolution rule, table-driven, with the expected target."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brain.graph.company import CompanyGraph
from brain.vault.links import Resolver, extract_body_links, mask_code, split_link_text
from brain.vault.reader import parse_note, read_vault

# A vault with name clashes to exercise Obsidian's tie-breaks.
VAULT = {
    "Home.md": "home",
    "Ada Lovelace.md": "---\naliases: [Countess]\n---\n# Ada\n## Early life\ntext ^para1\n",
    "People/Ada Lovelace.md": "---\ntype: person\n---\nthe person note",
    "Agents/Support Agent.md": "# Support Agent\n## Costs\n",
    "Tools/Vector Store.md": "tool",
    "Tools/Notes/Plan.md": "plan in tools",
    "Teams/Plan.md": "plan in teams",
    "Deep/Er/Plan.md": "plan deep",
    "Tools/CRM.md": "crm",
    "Integrations/CRM.md": "crm integration",
    "Note Name.md": "note with spaces",
    "Résumé café.md": "unicode",
    "assets/logo.png": b"\x89PNG....",
}

# (description, source note id, line of markdown, expected target id or "ghost:<id>", fragment)
CASES = [
    ("plain wikilink", "Home", "[[Tools/Vector Store]]", "Tools/Vector Store", None),
    ("bare name, unique", "Home", "[[Vector Store]]", "Tools/Vector Store", None),
    ("case-insensitive", "Home", "[[vector store]]", "Tools/Vector Store", None),
    ("with .md suffix", "Home", "[[Vector Store.md]]", "Tools/Vector Store", None),
    ("alias text", "Home", "[[Vector Store|the store]]", "Tools/Vector Store", None),
    ("heading fragment", "Home", "[[Ada Lovelace#Early life]]", "Ada Lovelace", "Early life"),
    ("block fragment", "Home", "[[Ada Lovelace#^para1]]", "Ada Lovelace", "^para1"),
    ("fragment and alias", "Home", "[[Support Agent#Costs|costs]]", "Agents/Support Agent", "Costs"),
    ("self heading link", "Agents/Support Agent", "[[#Costs]]", "Agents/Support Agent", "Costs"),
    ("embed", "Home", "![[Vector Store]]", "Tools/Vector Store", None),
    ("markdown link url-encoded", "Home", "[n](Note%20Name.md)", "Note Name", None),
    ("markdown link angle brackets", "Home", "[n](<Note Name.md>)", "Note Name", None),
    ("markdown link with folder", "Home", "[v](Tools/Vector%20Store.md)", "Tools/Vector Store", None),
    ("markdown link relative", "Tools/Notes/Plan", "[c](../CRM.md)", "Tools/CRM", None),
    ("unicode name", "Home", "[[résumé café]]", "Résumé café", None),
    ("tie: exact path from root wins", "People/Ada Lovelace", "[[Ada Lovelace]]", "Ada Lovelace", None),
    ("tie: shortest path when none in own folder", "Integrations/CRM", "[[Plan]]", "Teams/Plan", None),
    ("tie: linking note's folder", "Tools/Notes/Plan", "[[CRM]]", "Tools/CRM", None),
    ("tie: same folder as source", "Teams/Plan", "[[Plan]]", "Teams/Plan", None),
    ("tie: shortest path", "Home", "[[Plan]]", "Teams/Plan", None),
    ("tie: same folder (integrations)", "Integrations/CRM", "[[CRM]]", "Integrations/CRM", None),
    ("path-qualified from root", "Deep/Er/Plan", "[[Tools/Notes/Plan]]", "Tools/Notes/Plan", None),
    ("path-qualified person", "Home", "[[People/Ada Lovelace]]", "People/Ada Lovelace", None),
    ("partial path suffix", "Home", "[[Er/Plan]]", "Deep/Er/Plan", None),
    ("alias does not resolve", "Home", "[[Countess]]", "ghost:Countess", None),
    ("unresolved is ghost", "Home", "[[Nobody Here]]", "ghost:Nobody Here", None),
    ("table-escaped pipe", "Home", "| [[Vector Store\\|vs]] |", "Tools/Vector Store", None),
]


@pytest.fixture(scope="module")
def base_vault(tmp_path_factory, write_vault):
    return write_vault(tmp_path_factory.mktemp("links"), VAULT)


@pytest.mark.parametrize(("desc", "source", "markdown", "expected", "fragment"), CASES, ids=[c[0] for c in CASES])
def test_link_resolves_like_obsidian(base_vault, desc, source, markdown, expected, fragment):
    vault = read_vault(base_vault)
    note = parse_note(source, vault.notes[source].body + "\n" + markdown + "\n")
    links = [lk for lk in note.links if lk.line == note.body.count("\n")]
    assert len(links) == 1, links
    resolver = Resolver(vault.notes, vault.files)
    target = resolver.resolve(links[0].target, source)
    want = None if expected.startswith("ghost:") else expected
    assert target == want
    assert links[0].fragment == fragment


IGNORED = [
    ("fenced code", "```\n[[Vector Store]]\n```"),
    ("tilde fence", "~~~python\n[[Vector Store]]\n~~~"),
    ("inline code", "see `[[Vector Store]]` here"),
    ("double-backtick code", "see ``a [[Vector Store]] ` b`` here"),
    ("comment inline", "x %% [[Vector Store]] %% y"),
    ("comment block", "%%\n[[Vector Store]]\n%%"),
    ("external url", "[site](https://example.com/Vector%20Store.md)"),
    ("mailto", "[m](mailto:a@b.c)"),
]


@pytest.mark.parametrize(("desc", "markdown"), IGNORED, ids=[c[0] for c in IGNORED])
def test_no_link_inside_code_comments_or_urls(desc, markdown):
    assert extract_body_links(markdown) == []
    # the same text beside a real link: that link, and only that one, is found
    assert [lk.target for lk in extract_body_links(markdown + "\n\nsee [[Real Note]]")] == ["Real Note"]


# (description, markdown, targets of the links found) — CommonMark code spans, Obsidian comments.
CODE_SPANS = [
    ("unmatched backtick is literal", "costs 5` per run, see [[A]]", ["A"]),
    ("code span ends at a blank line", "a ` b [[A]]\n\nnext ` c [[B]]", ["A", "B"]),
    ("code span may cross a line break", "a ` b\n[[A]] ` [[B]]", ["B"]),
    ("runs must have equal length", "``a` [[A]] `b`` [[B]]", ["B"]),
    ("unclosed short run, closed long run", "` a `` [[A]] `` [[B]]", ["B"]),
    ("a heading is its own block", "# Title `x\nbody [[A]] `", ["A"]),
    ("a list item is its own block", "- a `b\n- [[A]] c`", ["A"]),
    ("%% inside code is text", "use `%%` to comment; see [[A]]", ["A"]),
    ("comment after a code span", "`a %% b` [[A]] %% [[B]] %% [[C]]", ["A", "C"]),
    ("backticks inside a comment", "%% a ` %% [[A]] ` [[B]]", ["A", "B"]),
    ("multi-line comment block with code", "%%\n`x\n[[A]]\n%%\n[[B]]", ["B"]),
    ("unclosed comment runs to the end", "[[A]] %% [[B]]\n\n[[C]]", ["A"]),
]


@pytest.mark.parametrize(("desc", "markdown", "targets"), CODE_SPANS, ids=[c[0] for c in CODE_SPANS])
def test_code_spans_and_comments_mask_only_what_they_cover(desc, markdown, targets):
    assert [lk.target for lk in extract_body_links(markdown)] == targets


def test_property_links_single_and_list_and_dataview(make_vault):
    root = make_vault(
        {
            "Agents/Bot.md": """
            ---
            owner: "[[Ada]]"
            uses: ["[[Vector Store]]", "[[CRM|crm]]"]
            team: [[Platform]]
            ---
            depends_on:: [[Search API]]
            and [integrations:: [[Slack]]] inline.
            """,
            "People/Ada.md": "---\ntype: person\nteam: '[[Platform]]'\n---\n",
            "Teams/Platform.md": "team",
            "Tools/Vector Store.md": "",
            "Tools/CRM.md": "",
            "Tools/Search API.md": "",
            "Integrations/Slack.md": "",
        }
    )
    g = CompanyGraph.from_vault(read_vault(root))
    rels = sorted((d["relation"], v) for _, v, d in g.g.out_edges("Agents/Bot", data=True))
    assert rels == [
        ("depends_on", "Integrations/Slack"),
        ("depends_on", "Tools/CRM"),
        ("depends_on", "Tools/Search API"),
        ("depends_on", "Tools/Vector Store"),
        ("member_of", "Teams/Platform"),
        ("owned_by", "People/Ada"),
    ]


def test_split_link_text_parts():
    assert split_link_text("Folder/Note.md#Head#Sub|Alias") == ("Folder/Note", "Sub", "Alias")
    assert split_link_text("#^blk") == ("", "^blk", None)


def test_mask_keeps_offsets():
    text = "a `b` c\n```\nx\n```\n%% y %%"
    assert len(mask_code(text)) == len(text)
    assert mask_code(text).count("\n") == text.count("\n")


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_parser_never_raises_on_arbitrary_text(text):
    note = parse_note("Folder/Any", text)
    assert note.id == "Folder/Any"


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("[]()!#|^%`~-:\n aB.\\/<>*")), max_size=200))
def test_parser_never_raises_on_link_syntax_soup(text):
    note = parse_note("X", "---\n" + text + "\n---\n" + text)
    assert note.id == "X"


NFC, NFD = "Jos\u00e9", "Jose\u0301"  # the same name typed (NFC) and as macOS names files (NFD)


@pytest.mark.parametrize(("file_name", "typed"), [(NFD, NFC), (NFC, NFD)], ids=["NFD file, NFC link", "NFC file, NFD link"])
def test_links_match_names_in_either_unicode_normal_form(make_vault, file_name, typed):
    root = make_vault(
        {
            f"People/{file_name}.md": "x",
            "src.md": f"[[{typed}]] [[people/{typed.upper()}]] [p](People/{typed}.md) ![[{typed}.png]]",
            f"{file_name}.png": b"png",
        }
    )
    g = CompanyGraph.from_vault(read_vault(root))
    assert sorted(v for _, v in g.g.out_edges("src")) == [f"People/{file_name}"] * 3
    assert g.nodes_of_type("ghost") == []


def test_a_note_added_later_resolves_links_typed_in_the_other_form(make_vault):
    from brain.vault.reader import read_note_file

    root = make_vault({"src.md": f"[[{NFC}]]"})
    g = CompanyGraph.from_vault(read_vault(root))
    assert g.node(NFC)["type"] == "ghost"
    (root / f"{NFD}.md").write_text("x")
    g.upsert_note(read_note_file(root, f"{NFD}.md")[0])
    assert [v for _, v in g.g.out_edges("src")] == [NFD] and NFC not in g.g


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("`%~\n\t #-ab[]")), max_size=300))
def test_mask_code_only_blanks_and_keeps_every_offset(text):
    masked = mask_code(text)
    assert len(masked) == len(text)
    assert all(m == t or (m == " " and t != "\n") for m, t in zip(masked, text, strict=True))
