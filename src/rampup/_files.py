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

__all__ = ["Content", "OutputWriteError", "Outputs", "check_target", "write_atomic"]


class OutputWriteError(OSError):
    """Writing one of a group's files failed (the group was rolled back); ``filename`` is the
    target (not a temporary name) and ``label`` what the caller called it (e.g. an option)."""

    label: str | None = None


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
    text = os.fspath(path)
    where = f"{option} {_shown(text)!r}" if option else repr(_shown(text))
    if not target.name or target.name in (".", "..") or "\0" in text:
        raise OptionError(f"{where}: not a file name")
    try:
        if target.is_dir():
            raise OptionError(f"{where} is a folder; give a file name")
        for parent in target.parents:
            if parent.exists() or parent.is_symlink():
                if not parent.is_dir():
                    raise OptionError(f"{where}: {_shown(os.fspath(parent))!r} is a file, not a folder")
                break
    except (OSError, ValueError) as error:  # a name too long, a NUL byte ...
        raise OptionError(f"{where}: cannot be a file name here ({_reason(error)})") from None
    return target


def _shown(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _reason(error: BaseException) -> str:
    return getattr(error, "strerror", None) or str(error)


@dataclass
class _Pending:
    target: Path
    content: Content
    label: str | None = None
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

    def add(self, path: str | os.PathLike[str], content: Content, label: str | None = None) -> Path:
        """Schedule ``content`` to be written to ``path``; a second add of a path replaces it.
        ``label`` names the file in errors (:class:`OutputWriteError`)."""
        target = Path(path)
        key = _identity(target)
        self._pending = [p for p in self._pending if _identity(p.target) != key]
        self._pending.append(_Pending(target, content, label))
        return target

    @property
    def paths(self) -> list[Path]:
        return [p.target for p in self._pending]

    def commit(self) -> None:
        """Write every file; on any failure restore the previous state and re-raise (an
        ``OSError`` as :class:`OutputWriteError` naming the file)."""
        created: list[Path] = []
        current: _Pending | None = None
        try:
            for current in self._pending:
                created += _make_parents(current.target.parent)
                current.temporary = _write_temporary(current.target, current.content)
            for current in self._pending:
                if current.target.exists():
                    current.backup = _backup(current.target)
                os.replace(current.temporary, current.target)  # type: ignore[arg-type]
                current.replaced = True
        except BaseException as error:
            self._roll_back(created)
            if isinstance(error, OSError) and current is not None and not isinstance(error, OutputWriteError):
                reason = error.strerror or str(error)
                failed = OutputWriteError(error.errno, reason, os.fspath(current.target))
                failed.label = current.label
                raise failed from error
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
