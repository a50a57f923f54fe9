"""Writing files so that nothing a user saved is ever left half-written."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

__all__ = ["atomic_write"]


def atomic_write(path: str | os.PathLike, content: bytes | str | Callable[[BinaryIO], Any]) -> Path:
    """Write `path` through a temporary file in the same folder, fsync, then `os.replace`.

    `content` is the bytes (or text, written as UTF-8) of the file, or a function that writes to
    the open binary file (e.g. `lambda f: torch.save(state, f)`). Readers see the old file or the
    new one, never a half-written one; if writing fails, the old file is untouched and the
    temporary file is removed. Returns the path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            if callable(content):
                content(f)
            else:
                f.write(content.encode() if isinstance(content, str) else content)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _mode_for(path))  # mkstemp makes 0600 files; keep the usual permissions
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def _mode_for(path: Path) -> int:
    """The permission bits the file should get: the existing file's, else those a plain
    `open(path, "w")` would give (0o666 less the umask)."""
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
