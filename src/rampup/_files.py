"""Writing files so that nobody sees half of one, and a group of files all or none.

:func:`write_atomic` writes one file; :class:`Outputs` writes several as one transaction: every
file is first written in full to a temporary file beside its target, and only when all of them
are written are they renamed into place. If anything fails, the targets are left as they were
(an existing file keeps its old content, a new one does not appear) and folders created for
them are removed again.

Every atomic write in rampup goes through here (the command line, schedule configs, plots and
the demo's checkpoints, data cache and report), so the guarantees are the same everywhere.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from rampup.errors import OptionError

#: What to write: the bytes themselves, or a function that writes them to an open binary file
#: (``torch.save``, ``numpy.savez`` and ``Figure.savefig`` take one).
Content = bytes | Callable[[IO[bytes]], object]

__all__ = ["Content", "Outputs", "check_target", "write_atomic"]


def write_atomic(path: str | os.PathLike[str], content: Content) -> Path:
    """Write ``content`` to ``path`` through a temporary file and a rename.

    Readers see the old file or the new one, never a half-written one; on failure the old file
    (if any) is untouched and missing parent folders created on the way are removed.
    """
    outputs = Outputs()
    outputs.add(path, content)
    outputs.commit()
    return Path(path)


def check_target(path: str | os.PathLike[str], option: str | None = None) -> Path:
    """Check, before any work, that a file can be written at ``path``; returns it as a Path.

    The target must not be a folder, and the nearest existing ancestor must be a folder (missing
    ones are created when the file is written). Raises :class:`OptionError` naming ``option``.
    """
    target = Path(path)
    where = f"{option} {os.fspath(path)!r}" if option else repr(os.fspath(path))
    if not target.name or target.name in (".", ".."):
        raise OptionError(f"{where}: not a file name")
    if target.is_dir():
        raise OptionError(f"{where} is a folder; give a file name")
    for parent in target.parents:
        if parent.exists() or parent.is_symlink():
            if not parent.is_dir():
                raise OptionError(f"{where}: {os.fspath(parent)!r} is a file, not a folder")
            break
    return target


@dataclass
class _Pending:
    target: Path
    content: Content
    temporary: str | None = None
    backup: str | None = None
    replaced: bool = False


class Outputs:
    """A set of files written together: all of them, or none (see the module docstring).

    ``add`` registers a file; ``commit`` writes them all. Nothing touches the disk before
    ``commit``.
    """

    def __init__(self) -> None:
        self._pending: list[_Pending] = []

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, path: str | os.PathLike[str], content: Content) -> Path:
        """Schedule ``content`` to be written to ``path``; a second add of a path replaces it."""
        target = Path(path)
        key = _identity(target)
        self._pending = [p for p in self._pending if _identity(p.target) != key]
        self._pending.append(_Pending(target, content))
        return target

    @property
    def paths(self) -> list[Path]:
        return [p.target for p in self._pending]

    def commit(self) -> None:
        """Write every file; on any failure restore the previous state and re-raise."""
        created: list[Path] = []
        try:
            for pending in self._pending:
                created += _make_parents(pending.target.parent)
                pending.temporary = _write_temporary(pending.target, pending.content)
            for pending in self._pending:
                if pending.target.exists():
                    pending.backup = _backup(pending.target)
                os.replace(pending.temporary, pending.target)  # type: ignore[arg-type]
                pending.replaced = True
        except BaseException:
            self._roll_back(created)
            raise
        for pending in self._pending:
            if pending.backup is not None:
                _remove(pending.backup)

    def _roll_back(self, created: Iterable[Path]) -> None:
        for pending in reversed(self._pending):
            if pending.replaced:
                if pending.backup is not None:
                    with contextlib.suppress(OSError):
                        os.replace(pending.backup, pending.target)
                        pending.backup = None
                else:
                    _remove(os.fspath(pending.target))
            for leftover in (pending.temporary, pending.backup):
                if leftover is not None:
                    _remove(leftover)
        for folder in reversed(list(created)):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if still empty


def _identity(path: Path) -> str:
    return os.path.normcase(os.path.abspath(path))


def _make_parents(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing ancestors; returns those created, outermost first."""
    missing: list[Path] = []
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            break
        missing.append(candidate)
    created: list[Path] = []
    for candidate in reversed(missing):
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        except BaseException:
            for done in reversed(created):
                with contextlib.suppress(OSError):
                    done.rmdir()
            raise
        created.append(candidate)
    return created


def _write_temporary(target: Path, content: Content) -> str:
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            if isinstance(content, bytes):
                stream.write(content)
            else:
                content(stream)
            stream.flush()
            os.fsync(stream.fileno())
        # mkstemp makes the file private (0600); give it the mode a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
    except BaseException:
        _remove(temporary)
        raise
    return temporary


def _backup(target: Path) -> str | None:
    """A second name for the existing target, so a later failure can put it back."""
    name = os.path.join(target.parent, f".{target.name}.{os.getpid()}.{id(target):x}.old")
    try:
        os.link(target, name)
    except OSError:
        return None  # no hard links here (or a folder): the old file cannot be restored
    return name


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
