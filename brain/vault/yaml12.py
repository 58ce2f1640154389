"""Frontmatter YAML read as Obsidian reads it: YAML 1.2's core schema, not PyYAML's YAML 1.1.

Differences that matter in notes: `0755` is 755 (not octal 493), `12:30` is text (not 750),
`yes`/`no`/`on`/`off`/`y`/`n` are text (only true/false are booleans), `0o17` and `0x1F` are
octal and hex. Dates and datetimes are still read as dates (normalised back to ISO text by the
vault), and an impossible date such as 2024-13-45 stays text instead of failing.
"""

from __future__ import annotations

import math
import re
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C parser is ~10x faster on a big vault

NULL = "tag:yaml.org,2002:null"
BOOL = "tag:yaml.org,2002:bool"
INT = "tag:yaml.org,2002:int"
FLOAT = "tag:yaml.org,2002:float"
STR = "tag:yaml.org,2002:str"
TIMESTAMP = "tag:yaml.org,2002:timestamp"
MERGE = "tag:yaml.org,2002:merge"

# Identifier properties: a plain number (or true/false) there keeps the text as written,
# because the graph compares them as text (`agent_id: 0755` is the id "0755", not 755).
TEXT_PROPERTIES = frozenset({"agent_id", "api_key", "api_keys", "service_name", "service_names"})


class CoreLoader(_Base):
    """PyYAML's safe loader resolving plain scalars by the YAML 1.2 core schema."""

    yaml_implicit_resolvers: dict = {}  # own table: none of YAML 1.1's resolvers are inherited


_CORE_RESOLVERS = (
    (NULL, r"~|null|Null|NULL|", ["~", "n", "N", ""]),
    (BOOL, r"true|True|TRUE|false|False|FALSE", list("tTfF")),
    (INT, r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+", list("-+0123456789")),
    (
        FLOAT,
        r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)",
        list("-+.0123456789"),
    ),
)
for _tag, _pattern, _first in _CORE_RESOLVERS:
    CoreLoader.add_implicit_resolver(_tag, re.compile(rf"^(?:{_pattern})$"), _first)
# Keep PyYAML's own date/datetime and `<<` merge-key resolvers, after the core ones.
for _char, _resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items():
    for _tag, _regexp in _resolvers:
        if _tag in (TIMESTAMP, MERGE):
            CoreLoader.add_implicit_resolver(_tag, _regexp, [_char])


def _bad(node: Node, what: str, text: str) -> ConstructorError:
    return ConstructorError(None, None, f"{text!r} is not a valid {what}", node.start_mark)


def core_bool(text: str) -> bool:
    """A core-schema boolean (true/false in any case); ValueError otherwise."""
    if text.lower() not in ("true", "false"):
        raise ValueError(text)
    return text.lower() == "true"


def core_int(text: str) -> int:
    """A core-schema integer: decimal (0755 is 755: YAML 1.2 has no leading-zero octal), 0o, 0x."""
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    return int(text, 10)


def core_float(text: str) -> float:
    """A core-schema float, with .inf, -.inf and .nan; ValueError otherwise."""
    low = text.lower()
    if low in (".inf", "+.inf"):
        return math.inf
    if low == "-.inf":
        return -math.inf
    if low == ".nan":
        return math.nan
    return float(text)


def _checked(convert, kind: str):
    """A constructor of one core type: `convert` the scalar's text, or say what was expected."""

    def construct(loader: CoreLoader, node: Node):
        text = loader.construct_scalar(node)
        try:
            return convert(text)
        except ValueError:
            raise _bad(node, kind, text) from None

    return construct


def _construct_timestamp(loader: CoreLoader, node: Node):
    try:
        return SafeConstructor.construct_yaml_timestamp(loader, node)
    except ValueError:  # an impossible date (2024-13-45): Obsidian shows the text
        return loader.construct_scalar(node)


CoreLoader.add_constructor(BOOL, _checked(core_bool, "boolean (true or false)"))
CoreLoader.add_constructor(INT, _checked(core_int, "integer"))
CoreLoader.add_constructor(FLOAT, _checked(core_float, "number"))
CoreLoader.add_constructor(TIMESTAMP, _construct_timestamp)


def _keep_written_text(node: Node) -> None:
    """Plain numbers and booleans under TEXT_PROPERTIES (top level, or their lists) become text."""
    if not isinstance(node, MappingNode):
        return
    for key, value in node.value:
        if not (isinstance(key, ScalarNode) and key.value in TEXT_PROPERTIES):
            continue
        items = value.value if isinstance(value, SequenceNode) else [value]
        for item in items:
            if isinstance(item, ScalarNode) and item.tag in (INT, FLOAT, BOOL):
                item.tag = STR


def load_yaml(text: str):
    """One YAML document read with the core schema (None when empty); raises yaml.YAMLError."""
    loader = CoreLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _keep_written_text(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()
