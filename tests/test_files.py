"""Atomic writes: one file, or a group of files all or none, whatever fails and wherever."""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

import pytest

from rampup._files import Outputs, check_target, write_atomic
from rampup.errors import OptionError, RampupError


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_write_atomic_bytes_and_writer(tmp_path: Path) -> None:
    write_atomic(tmp_path / "a.bin", b"\x00\x01")
    write_atomic(tmp_path / "deep" / "er" / "b.txt", lambda stream: stream.write(b"hello"))
    assert (tmp_path / "a.bin").read_bytes() == b"\x00\x01"
    assert (tmp_path / "deep" / "er" / "b.txt").read_bytes() == b"hello"
    assert listing(tmp_path) == ["a.bin", "deep", "deep/er", "deep/er/b.txt"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_mode_is_what_open_gives(tmp_path: Path) -> None:
    write_atomic(tmp_path / "x", b"1")
    with open(tmp_path / "y", "wb") as stream:
        stream.write(b"1")
    assert (tmp_path / "x").stat().st_mode & 0o777 == (tmp_path / "y").stat().st_mode & 0o777


def test_failing_writer_leaves_old_file_and_no_new_folders(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("old")

    def explode(stream: IO[bytes]) -> None:
        stream.write(b"half")
        raise KeyboardInterrupt  # even an interrupt between the writes

    outputs = Outputs()
    outputs.add(tmp_path / "keep.txt", b"new")
    outputs.add(tmp_path / "new" / "folder" / "x.txt", b"x")
    outputs.add(tmp_path / "third.txt", explode)
    with pytest.raises(KeyboardInterrupt):
        outputs.commit()
    assert listing(tmp_path) == ["keep.txt"]
    assert (tmp_path / "keep.txt").read_text() == "old"


def test_rename_failure_half_way_rolls_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The second rename fails: the first target, already replaced, gets its old content back,
    and a file that did not exist before disappears again."""
    (tmp_path / "a.txt").write_text("old a")
    real_replace = os.replace
    calls = []

    def flaky(src: str, dst: str) -> None:
        calls.append(dst)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", flaky)
    outputs = Outputs()
    outputs.add(tmp_path / "a.txt", b"new a")
    outputs.add(tmp_path / "sub" / "b.txt", b"new b")
    outputs.add(tmp_path / "c.txt", b"new c")
    with pytest.raises(OSError, match="No space left"):
        outputs.commit()
    monkeypatch.undo()
    assert listing(tmp_path) == ["a.txt"]
    assert (tmp_path / "a.txt").read_text() == "old a"


def test_success_replaces_all_and_leaves_no_temporaries(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("old")
    outputs = Outputs()
    outputs.add(tmp_path / "a.txt", b"1")
    outputs.add(tmp_path / "b" / "c.txt", b"2")
    outputs.add(tmp_path / "a.txt", b"3")  # the last add of a path wins
    assert len(outputs) == 2
    outputs.commit()
    assert listing(tmp_path) == ["a.txt", "b", "b/c.txt"]
    assert (tmp_path / "a.txt").read_text() == "3"
    assert (tmp_path / "b" / "c.txt").read_text() == "2"


def test_check_target(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    (tmp_path / "dir").mkdir()
    deep = tmp_path / "missing" / "deeper" / "f.csv"
    assert check_target(deep) == deep
    with pytest.raises(OptionError, match=r"--csv .*afile.* is a file, not a folder"):
        check_target(tmp_path / "afile" / "deeper" / "f.csv", "--csv")
    with pytest.raises(OptionError, match="is a folder"):
        check_target(tmp_path / "dir", "-o")
    with pytest.raises(RampupError, match="not a file name"):
        check_target(tmp_path / "..", "-o")
    assert listing(tmp_path) == ["afile", "dir"]
