"""``python -m rampup``: the command line."""

from rampup.cli import entry_point

entry_point()
