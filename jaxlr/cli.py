"""The ``jaxlr`` command line (host only)."""


def main() -> None:
    raise SystemExit("jaxlr: the command line is not built yet")
