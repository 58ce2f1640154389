"""Lazy re-exports for package `__init__` files: a name is imported from its module on first use,
so importing a package the CLI passes through loads nothing heavy (docs/internals.md, "Layers")."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any


def lazy(package: str, modules: dict[str, str]) -> Callable[[str], Any]:
    """The module `__getattr__` of `package` that returns `modules[name]`'s attribute `name`."""

    def __getattr__(name: str) -> Any:
        if name in modules:
            return getattr(import_module(modules[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
