"""The starter vault: `vault_template/` at the top of the repository, shipped inside the installed
package as `brain.vault_template` (pyproject's package-dir), copied by `brain init` and the demo."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from brain.errors import VaultError

log = logging.getLogger(__name__)


def template_path() -> Path:
    """The starter vault: `brain/vault_template/` of an installed wheel (package data), or the
    repository's top-level `vault_template/` in a source checkout (and its editable install)."""
    package = Path(__file__).resolve().parents[1]
    for path in (package / "vault_template", package.parent / "vault_template"):
        if (path / "Home.md").is_file():
            return path
    raise VaultError(f"the starter vault is missing at {package / 'vault_template'}; reinstall company-brain")


def is_empty(path: Path) -> bool:
    return not path.exists() or (path.is_dir() and not any(path.iterdir()))


@dataclass(frozen=True)
class StarterVault:
    """What init_vault did: the vault folder, how many files it copied, and the existing files it kept."""

    path: Path
    copied: int
    kept: tuple[str, ...]  # vault paths that already existed and were left exactly as they were


def init_vault(path: str | Path, force: bool = False) -> StarterVault:
    """Copy the starter vault into `path`; a non-empty folder is refused unless `force`.

    An existing file is never replaced, even with `force`: only the missing starter files are copied.
    """
    dest = Path(path).expanduser().resolve()
    template = template_path()
    copied, kept = 0, []
    try:
        if dest.exists() and not dest.is_dir():
            raise VaultError(f"{dest} exists and is not a folder")
        if not is_empty(dest) and not force:
            raise VaultError(f"{dest} is not empty; choose a new folder or pass --force to add the missing starter files")
        dest.mkdir(parents=True, exist_ok=True)
        for src in sorted(template.rglob("*")):
            rel = src.relative_to(template)
            target = dest / rel
            if src.is_dir():
                target.mkdir(exist_ok=True)
                continue
            try:
                with open(target, "xb") as f:  # exclusive create: never overwrite, even in a race
                    f.write(src.read_bytes())
            except FileExistsError:
                kept.append(rel.as_posix())
            else:
                copied += 1
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(dest) else ""
        raise VaultError(f"cannot create the starter vault in {dest}{where}: {exc.strerror or exc}") from exc
    log.info("starter vault copied to %s: %d files copied, %d existing files kept", dest, copied, len(kept))
    return StarterVault(dest, copied, tuple(kept))
