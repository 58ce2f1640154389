"""The frontmatter fast path gives exactly what the YAML 1.2 loader gives, whenever it answers."""

from __future__ import annotations

import json
import math

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from brain.vault.frontmatter_fast import fast_frontmatter
from brain.vault.reader import normalise_value, parse_frontmatter
from brain.vault.yaml12 import load_yaml


def loader_props(fm: str) -> dict | None:
    """What parse_frontmatter gives without the fast path (None when YAML refuses it or it is no mapping)."""
    try:
        data = load_yaml(fm)
    except yaml.YAMLError:
        return None
    if data is None:
        return {}
    if not isinstance(data, dict):
        return None
    return {str(k): normalise_value(v) for k, v in data.items()}


def typed(value):
    """The value with every type spelled out, so 1, 1.0 and True differ, and -0.0 is not 0.0."""
    if isinstance(value, dict):
        return ("dict", [(typed(k), typed(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", [typed(v) for v in value])
    if isinstance(value, float):
        return ("float", "nan" if math.isnan(value) else repr(value))
    return (type(value).__name__, value)


def assert_same_as_loader(fm: str) -> dict | None:
    fast = fast_frontmatter(fm)
    if fast is not None:
        slow = loader_props(fm)
        assert slow is not None, f"fast path accepted what the loader refuses: {fm!r}"
        assert typed(fast) == typed(slow), fm
    return fast


# Text with the characters that trip YAML: indicators, quotes, escapes, spaces at the ends, unicode.
_TRICKY = st.sampled_from(list("#:,]['\"\\{}&*!|>%@`?-~ ") + ["[[", "]]", "[[Ada Lovelace]]", "é", "中", "😀", "\u00a0", "\x85", "\u2028", "\t"])
_text = st.lists(st.one_of(_TRICKY, st.characters(codec="utf-8"), st.sampled_from(["a", "Z", "0", "9", " ", "."])), max_size=10).map("".join)
_plain_words = st.sampled_from(
    ["123", "-7", "+3", "0", "-0", "0755", "0o17", "0x1F", "0o8", "1_000", "1e3", "1.5", "-.5", ".inf", "-.Inf", ".nan", "+.inf",
     "1.", "12:30", "true", "True", "FALSE", "yes", "No", "on", "null", "Null", "NULL", "~", "2024-03-05", "2024-13-45", "2024-3-5",
     "0000-01-01", "2024-03-05T10:00:00", "2024-03-05 10:00", "<<", "gpt-4o-mini", "cost/tracked", "C#", "a #b", "a: b", "a:b",
     "http://x.y/z", "-", "-x", "--", "?x", "x?", "@me", "%x", "!tag x", "&a x", "*a", "|", ">", "a  b", "x{y}", "é", "[[Ada]]"]
)  # fmt: skip
_plain = st.one_of(_plain_words, _text.filter(lambda t: t.strip() == t and "\n" not in t))


def _double(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # how brain publish writes text


_escape = st.sampled_from(["\\\\", '\\"', "\\n", "\\t", "\\/", "\\0", "\\e", "\\x41", "\\u00e9", "\\U0001F600", "\\ud800", "\\N", "\\_", "\\L", "\\P", "\\ ", "\\q", "\\x4"])  # fmt: skip
_raw_double = st.lists(st.one_of(_text.map(lambda t: t.replace("\\", "").replace('"', "")), _escape), max_size=4).map(lambda xs: '"' + "".join(xs) + '"')
_scalar = st.one_of(
    _plain,
    _text.map(_double),
    _raw_double,
    _text.map(lambda t: "'" + t.replace("'", "''") + "'"),
    _text.map(lambda t: "'" + t + "'"),  # '' not doubled: sometimes wrong, and then the fast path must refuse
    _text.map(lambda t: '"' + t + '"'),
)
# The shapes Obsidian's property editor and brain publish write (the fast path must take them).
_word = st.text(st.characters(codec="utf-8", categories=["L", "N"]), min_size=1, max_size=8)
_link = _word.map(lambda w: f"[[{w} Note|{w}]]")
_common_text = st.one_of(_word, _link, st.sampled_from(["brain/cost", "gpt-4o-mini", "Ada Lovelace", "it's", 'say "hi"', "a, b", "x # y", "12:30", "0755", ""]))
_common_scalar = st.one_of(
    _common_text.map(_double),
    _common_text.map(lambda t: "'" + t.replace("'", "''") + "'"),
    st.sampled_from(["123", "0755", "-4", "1.25", "true", "false", "null", "~", "2024-03-05", "gpt-4o-mini", "Ada Lovelace", "cost/tracked"]),
)
_item = st.one_of(_scalar, _common_scalar)
_spaces = st.sampled_from(["", " ", "  "])
_flow = st.tuples(st.lists(st.tuples(_spaces, _item, _spaces), max_size=4), st.sampled_from(["", ",", " ]", "] # c"])).map(
    lambda t: "[" + ",".join(a + s + b for a, s, b in t[0]) + ("]" if not t[1].endswith(("]", "c")) else "") + t[1]
)
_key = st.one_of(
    st.sampled_from(["type", "owner", "tags", "aliases", "agent_id", "api_keys", "service_names", "true", "null", "on", "y", "due date", "_x", "a-b"]),
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_\-]{0,6}", fullmatch=True),
)
_block_items = st.tuples(st.sampled_from(["", "  ", "    "]), st.lists(st.tuples(_item, st.sampled_from(["", " ", "  "])), min_size=1, max_size=4)).map(
    lambda t: "".join(f"\n{t[0]}- {s}" for s, _ in t[1])
)
_line = st.one_of(
    st.tuples(_key, st.sampled_from([": ", ":  ", ":"]), st.one_of(_item, _flow), _spaces).map("".join),
    st.tuples(_key, st.just(":"), st.one_of(st.just(""), _block_items)).map("".join),
    st.sampled_from(["", "# a comment", "  # indented comment", "  continued", "- stray", "...", "key: [a,\n  b]"]),
)


@pytest.mark.e2e
@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_line, min_size=1, max_size=6).map("\n".join))
@example('type: "cost"\nagent: "[[Agents/X|X]]"\ntags: ["brain/cost"]')
@example("a: 'it''s'\nb: \"tab\\there\"\nc: [a, 'b', \"c\"]")
@example('owner: "[[Ada Lovelace]]"\nowner: "[[Ada]]"')
def test_fast_path_equals_the_yaml_loader_whenever_it_answers(fm):
    assert_same_as_loader(fm)


_common_key = _key.filter(lambda k: k.lower() not in ("true", "false", "null") and " " not in k)
_common_value = st.one_of(
    _common_scalar.map(lambda v: f" {v}"),
    st.lists(_common_scalar, max_size=4).map(lambda vs: " [" + ", ".join(vs) + "]"),
    st.lists(_common_scalar, min_size=1, max_size=4).map(lambda vs: "".join(f"\n  - {v}" for v in vs)),
)


@pytest.mark.e2e
@settings(max_examples=1000, deadline=None)
@given(st.dictionaries(_common_key, _common_value, min_size=1, max_size=8))
def test_common_obsidian_shapes_take_the_fast_path(props):
    fm = "\n".join(f"{k}:{v}" for k, v in props.items())
    assert assert_same_as_loader(fm) is not None, fm


def test_published_cost_note_frontmatter_takes_the_fast_path():
    fm = (
        'type: "cost"\nbrain_generated: true\nagent: "[[Agents/Support Agent|Support Agent]]"\nagent_id: "support-agent"\n'
        'owner: "[[People/Ada Lovelace|Ada Lovelace]]"\nteam: null\nperiod_days: 30\nspend_usd: 1234.5678\n'
        'cost_per_request_usd: 0.031234\nopen_anomalies: 2\ntags: ["brain/cost"]'
    )
    props = assert_same_as_loader(fm)
    assert props is not None
    assert (props["owner"], props["team"], props["spend_usd"], props["tags"]) == ("[[People/Ada Lovelace|Ada Lovelace]]", None, 1234.5678, ["brain/cost"])
    assert parse_frontmatter(fm) == (props, None, None)


def test_fast_path_types_plain_scalars_like_the_loader():
    fm = "a: 123\nb: 0755\nc: 12:30\nd: true\ne: yes\nf: ~\ng: 2024-03-05\nh: 2024-13-45\ni: 0x1F\nagent_id: 0755\napi_keys:\n  - 7\n  - 'k'"
    props = assert_same_as_loader(fm)
    assert props == {"a": 123, "b": 755, "c": "12:30", "d": True, "e": "yes", "f": None, "g": "2024-03-05",
                     "h": "2024-13-45", "i": 31, "agent_id": "0755", "api_keys": ["7", "k"]}  # fmt: skip


def test_fast_path_refuses_what_it_cannot_be_sure_of():
    for fm in ["owner: [[Ada]]", "a: b # c", "a:\n  b: c", "a: |\n  x", "a: &x 1", "a: !!str 1", "a: 2024-03-05 10:00:00",
               "a: [b,\n c]", "a: 'b\n  c'", "a: x\na: y", "a: \"\\q\"", "a:\n  - [b]"]:  # fmt: skip
        assert fast_frontmatter(fm) is None, fm
