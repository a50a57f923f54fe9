"""`_io.atomic_write`: a file is replaced whole or not at all."""

import os
import stat

import pytest

from inception_lab._io import atomic_write


def test_atomic_write_writes_bytes_text_and_callables(tmp_path):
    path = tmp_path / "sub" / "a.txt"
    assert atomic_write(path, "héllo") == path
    assert path.read_text(encoding="utf-8") == "héllo"
    atomic_write(path, b"bytes")
    assert path.read_bytes() == b"bytes"
    atomic_write(path, lambda f: f.write(b"from a function"))
    assert path.read_bytes() == b"from a function"
    assert [p.name for p in path.parent.iterdir()] == ["a.txt"]  # no temporary file left


def test_a_failed_write_leaves_the_old_file(tmp_path):
    path = tmp_path / "notebook.ipynb"
    path.write_text("saved work")

    def crash(f):
        f.write(b"half a notebo")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(path, crash)
    assert path.read_text() == "saved work"
    assert [p.name for p in tmp_path.iterdir()] == ["notebook.ipynb"]


def test_permissions_are_those_of_a_plain_write(tmp_path):
    plain = tmp_path / "plain"
    plain.write_text("x")
    new = atomic_write(tmp_path / "new", "x")
    assert stat.S_IMODE(os.stat(new).st_mode) == stat.S_IMODE(os.stat(plain).st_mode)
    os.chmod(new, 0o600)
    atomic_write(new, "y")
    assert stat.S_IMODE(os.stat(new).st_mode) == 0o600  # an existing file keeps its mode
