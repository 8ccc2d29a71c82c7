"""The ``jaxlr`` command (host only): see :mod:`jaxlr.cli._app`."""

from jaxlr.cli._app import app as app
from jaxlr.cli._app import main as main
from jaxlr.cli._app import run as run

__all__ = ["app", "main", "run"]
