"""What commands print and write: tables (plain or rich), the rows of ``table``, figures, and the
group of output files written together at the end (all or none)."""

from __future__ import annotations

import csv
import errno
import io
import itertools
import json
import math
import os
import re
import shutil
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import click

from rampup._files import Outputs, OutputWriteError, check_target
from rampup.cli.params import MAX_STEPS, RICH_ROWS, _checked, _fail, _short, _WriteFailed
from rampup.errors import MissingDependencyError, OptionError
from rampup.schedules import Schedule


def _terminal_width() -> int:
    return shutil.get_terminal_size((80, 24)).columns


def _use_rich() -> bool:
    if not sys.stdout.isatty():
        return False
    try:
        import rich  # noqa: F401
    except ImportError:
        return False
    return True


def _print_table(headers: list[str], rows: Sequence[Sequence[str]], title: str | None = None) -> None:
    if _use_rich() and len(rows) <= RICH_ROWS:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title)
        for header in headers:
            table.add_column(header, justify="right" if header != "name" else "left")
        for row in rows:
            table.add_row(*row)
        Console().print(table)
        return
    if title:
        click.echo(title)
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    click.echo("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _output(path: str, option: str, outputs: Outputs) -> Path:
    """Check an output file's path now (exit 2 if it cannot be a file) and that no other output
    of the command has it; the file itself is written at the end."""
    target = check_target(path, option)
    taken = {os.path.abspath(p) for p in outputs.paths}
    if os.path.abspath(target) in taken:
        _fail(f"{option} {_short(path, 200)!r} is also another output of this command")
    return target


def _image_path(output: str, option: str = "-o/--output") -> tuple[Path, str]:
    path = Path(output)
    suffix = path.suffix.lower()
    if suffix not in (".png", ".svg", ".pdf"):
        _fail(f"{option} must end in .png, .svg or .pdf, got {_short(output, 200)!r}")
    return check_target(output, option), suffix[1:]


def _render(curves: list[Any], total: int, image: str, output: str, options: dict[str, Any],
            what: str) -> bytes:
    from rampup.plot import render_figure

    try:
        with _checked(what, evaluating=True):
            return render_figure(curves, total, image, peak_lr=options.get("lr"),
                                 steps_per_epoch=options.get("steps_per_epoch"))
    except MissingDependencyError:
        raise MissingDependencyError(
            f"-o {_short(output, 200)}: writing an image needs matplotlib: pip install 'rampup[plot]' "
            "(without -o, plot draws in the terminal)"
        ) from None


#: Write failures that say the asked path cannot be written (a usage error, exit 2); others
#: (a full disk, an I/O error) are the system failing a correct request (exit 1).
_PATH_ERRNOS = {errno.ENAMETOOLONG, errno.EACCES, errno.EPERM, errno.EROFS, errno.EISDIR, errno.ENOTDIR,
                errno.EINVAL, errno.EEXIST, errno.ELOOP, errno.ENOENT}


def _commit(outputs: Outputs) -> None:
    try:
        outputs.commit()
    except OutputWriteError as error:
        where = f"{error.label} {_short(str(error.filename), 200)!r}" if error.label else repr(error.filename)
        message = f"{where}: cannot write it ({error.strerror}); nothing was written"
        if error.errno in _PATH_ERRNOS:
            raise OptionError(message) from error
        raise _WriteFailed(message) from error


def _steps_to_show(total: int, every: int | None, at: str | None, max_rows: int) -> Iterable[int]:
    """The steps ``table`` shows: --at's list, or every --every-th step and the last one."""
    if every is not None and at is not None:
        _fail("give either --every or --at, not both")
    if at is not None:
        parts = [part.strip() for part in at.split(",") if part.strip()]
        if len(parts) > max_rows:
            _fail(f"--at lists {len(parts)} steps, more than --max-rows ({max_rows})")
        steps = []
        for part in parts:
            if not re.fullmatch(r"[0-9]{1,19}", part, re.ASCII) or int(part) > MAX_STEPS:
                _fail(f"--at expects comma-separated step numbers in [0, 2**62], got {_short(at)!r}")
            steps.append(int(part))
        if not steps:
            _fail(f"--at expects comma-separated step numbers in [0, 2**62], got {_short(at)!r}")
        return steps
    stride = every or max(1, total // 20)
    strided = range(0, total + 1, stride)
    rows = len(strided) + (strided[-1] != total)
    if rows > max_rows:
        _fail(f"--every {stride} gives {rows} rows over {total} steps, more than --max-rows "
              f"({max_rows}): give a larger --every, or raise --max-rows")
    return strided if strided[-1] == total else itertools.chain(strided, [total])


def _float_text(value: float) -> str:
    return repr(value)


def _write_rows(schedule: Schedule, what: str, steps: Iterable[int], lr: float | None,
                out: IO[str]) -> list[int]:
    """Evaluate the rows into ``out`` (tab-separated exact values); returns column widths."""
    widths = [4, 10, 2]
    for step in steps:
        with _checked(f"{what} at step {step}"):
            value = schedule(step)
        cells = [str(step), _float_text(value)]
        bad = None if math.isfinite(value) else f"{what} gives {value} at step {step}"
        if lr is not None:
            rate = value * lr
            cells.append(_float_text(rate))
            if bad is None and not math.isfinite(rate):
                bad = f"--lr {lr:g} times the multiplier {value!r} at step {step} is {rate}"
        if bad is not None:
            _fail(f"{bad}: not a usable learning rate")
        for index, cell in enumerate(cells):
            widths[index] = max(widths[index], len(cell))
        out.write("\t".join(cells) + "\n")
    return widths


def _records(headers: list[str], rows_file: IO[str]) -> Iterator[list[str]]:
    rows_file.seek(0)
    for line in rows_file:
        yield line.rstrip("\n").split("\t")


def _copy_csv(headers: list[str], rows_file: IO[str], stream: IO[bytes]) -> None:
    text = io.TextIOWrapper(stream, encoding="utf-8", newline="")
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(headers)
    for cells in _records(headers, rows_file):
        writer.writerow(cells)
    text.flush()
    text.detach()


def _echo_json(headers: list[str], rows_file: IO[str]) -> None:
    click.echo("[")
    first = True
    for cells in _records(headers, rows_file):
        record = {"step": int(cells[0]), **{h: float(c) for h, c in zip(headers[1:], cells[1:], strict=True)}}
        click.echo(("" if first else ",\n") + " " + json.dumps(record), nl=False)
        first = False
    click.echo("\n]")


def _echo_table(headers: list[str], widths: list[int], rows_file: IO[str]) -> None:
    if _use_rich():
        rows = []
        for cells in _records(headers, rows_file):
            rows.append(cells)
            if len(rows) > RICH_ROWS:
                break
        if len(rows) <= RICH_ROWS:
            _print_table(headers, rows)
            return
    widths = [max(w, len(h)) for w, h in zip(widths, headers, strict=False)]
    click.echo("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=False)).rstrip())
    for cells in _records(headers, rows_file):
        click.echo("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=False)).rstrip())
