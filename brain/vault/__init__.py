"""Reading an Obsidian vault exactly as Obsidian does, and editing its notes safely.

reader (walk, notes, types, tags) · yaml12 and frontmatter_fast (YAML 1.2 frontmatter) · links
(wikilinks, markdown links, resolution) · frontmatter_edit and edits (byte-preserving writes, safe
paths) · secrets (pasted keys) · paths (where a path sits, the symlinks the walk follows) ·
template (the starter vault).
"""

from brain.vault.reader import NOTE_TYPES, Note, Vault, VaultIssue, read_note_file, read_vault

__all__ = ["NOTE_TYPES", "Note", "Vault", "VaultIssue", "read_note_file", "read_vault"]
