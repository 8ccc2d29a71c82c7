"""``python -m jaxlr`` runs the command line."""

from jaxlr.cli import main

if __name__ == "__main__":
    main()
