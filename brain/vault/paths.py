"""Paths for the vault watcher: a path's place inside a folder, and the symlinks walk_vault follows
(watchdog does not follow them, so the watcher watches their targets itself)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from brain.vault.reader import links_into


def is_hidden(rel: str) -> bool:
    """True for a vault path in or under a dot-folder (`.trash`, `.obsidian`): walk_vault never reads those."""
    return any(part.startswith(".") for part in rel.split("/"))


def inside(path, folder: str) -> str | None:
    """`path` relative to `folder` in vault form ("" for the folder itself), or None when outside it."""
    path = os.fsdecode(path)
    if path == folder:
        return ""
    if not path.startswith(folder + os.sep):
        return None
    return path[len(folder) + 1 :].replace(os.sep, "/")


def find_links(vault_root: Path, rel: str, recursive: bool) -> dict[str, str]:
    """The symlinks walk_vault follows at vault path `rel` and in it (only its entries unless
    `recursive`): {vault path: real target}. Links back into the vault are not followed."""
    root = str(vault_root)
    found: dict[str, str] = {}
    seen: set[tuple[int, int]] = set()
    stack = [rel]
    while stack:
        r = stack.pop()
        if is_hidden(r):
            continue
        path = os.path.join(root, r) if r else root
        if r and os.path.islink(path):
            if links_into(path, root):
                continue
            found[r] = os.path.realpath(path)
        try:
            st = os.stat(path)
            if not stat.S_ISDIR(st.st_mode) or (st.st_dev, st.st_ino) in seen or (r != rel and not recursive):
                continue
            seen.add((st.st_dev, st.st_ino))
            with os.scandir(path) as it:
                names = [e.name for e in it if e.is_symlink() or e.is_dir(follow_symlinks=False)]
        except OSError:
            continue
        stack.extend(f"{r}/{n}" if r else n for n in names)
    return found
