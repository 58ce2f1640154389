"""Small file helpers shared by everything that writes: an atomic replace and a content hash."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


def sha256(data: bytes) -> str:
    """Hex SHA-256 of bytes."""
    return hashlib.sha256(data).hexdigest()


@contextmanager
def replacing(path: Path, prefix: str = ".brain-") -> Iterator[tuple[BinaryIO, Path]]:
    """A temporary file beside `path` (and its name) that replaces `path` when the block ends
    without an error; on an error it is removed and `path` is left as it was."""
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=path.parent)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f, tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
