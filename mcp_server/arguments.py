"""Argument errors a model can act on: one sentence naming the tool or prompt, the argument and what it takes.

The SDK reports a tool's bad arguments as pydantic's validation text (error types, input dumps and
errors.pydantic.dev links), and a prompt's missing argument or unknown name as an internal error
with a traceback on stderr. These helpers word them from the tool's or prompt's own schema instead.
"""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import ValidationError

MAX_VALUE_CHARS = 60


def expected(prop: dict[str, Any]) -> str:
    """What a JSON-schema property accepts, in words ('a whole number from 1 to 10', "one of 'a', 'b'")."""
    options = [p for p in prop.get("anyOf", [prop]) if p.get("type") != "null"]
    return " or ".join(dict.fromkeys(_one(p) for p in options)) or "a value"


def _one(p: dict[str, Any]) -> str:
    if "enum" in p:
        return "one of " + ", ".join(repr(v) for v in p["enum"])
    kind = p.get("type")
    if kind in ("integer", "number"):
        noun = "a whole number" if kind == "integer" else "a number"
        lo, hi = p.get("minimum"), p.get("maximum")
        if lo is not None and hi is not None:
            return f"{noun} from {lo} to {hi}"
        if lo is not None:
            return f"{noun} of {lo} or more"
        return f"{noun} of {hi} or less" if hi is not None else noun
    return {"string": "text", "boolean": "true or false", "array": "a list", "object": "an object"}.get(str(kind), "a value")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 3] + "..."


def _hint(prop: dict[str, Any]) -> str:
    """The property's description, with the accepted values when they are not plain text."""
    what = expected(prop)
    desc = (prop.get("description") or "").rstrip(".")
    if not desc:
        return what
    return desc if what == "text" else f"{desc}; {what}"


def missing_argument(subject: str, arg: str, prop: dict[str, Any]) -> str:
    """'agent_brief needs the argument 'name': Agent note name ...'."""
    return f"{subject} needs the argument {arg!r}: {_hint(prop)}."


def unknown_argument(subject: str, arg: str, properties: dict[str, Any]) -> str:
    """An argument the tool or prompt does not take, with the ones it does."""
    takes = ", ".join(repr(a) for a in properties) or "no arguments"
    return f"{subject} has no argument {arg!r}; it takes {takes}."


def validation_message(subject: str, schema: dict[str, Any], exc: ValidationError) -> str:
    """One sentence per rejected argument of `subject`, from its JSON schema."""
    properties = schema.get("properties") or {}
    sentences: dict[str, str] = {}
    for err in exc.errors():
        loc = err.get("loc") or ()
        arg = str(loc[0]) if loc else ""
        if arg in sentences:
            continue  # a union reports one error per branch; one sentence per argument is enough
        prop = properties.get(arg, {})
        if err.get("type") == "missing":
            sentences[arg] = missing_argument(subject, arg, prop)
        elif arg and arg not in properties:
            sentences[arg] = unknown_argument(subject, arg, properties)
        else:
            sentences[arg] = f"argument {arg!r} of {subject} must be {expected(prop)}; got {_shown(err.get('input'))}."
    return " ".join(sentences.values()) or f"invalid arguments for {subject}."


def unknown_name(kind: str, name: str, known: list[str]) -> str:
    """'no tool named 'x'; did you mean 'y'?', or the full list when nothing is close."""
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    if close:
        return f"no {kind} named {name!r}; did you mean {', '.join(repr(c) for c in close)}?"
    return f"no {kind} named {name!r}; this server's {kind}s are {', '.join(repr(k) for k in sorted(known))}."
