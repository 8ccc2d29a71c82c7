"""Generates the option tables of the ``jaxlr`` command from the command itself.

The tables come from the typer/click objects the console script runs (the same help records
``jaxlr COMMAND --help`` prints), so a new option or command shows up in the docs without
editing them. Used by ``docs/hooks.py`` to expand ``<!-- jaxlr:cli-options COMMAND -->``
markers in ``docs/cli.md``, and by ``tests/test_docs.py``.
"""

from __future__ import annotations

import re
from typing import Any

_DEFAULT = re.compile(r"\s*\[(default: (?P<default>.*?)|(?P<required>required))\]\s*$")


def _root() -> Any:
    import typer

    from jaxlr.cli import _app

    return typer.main.get_command(_app.app())


def _context(command: Any, name: str, parent: Any = None) -> Any:
    return command.context_class(command, info_name=name, parent=parent)


def command_names() -> list[str]:
    """The subcommands of ``jaxlr``, in the order ``jaxlr --help`` lists them."""
    return list(_root().commands)


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _table(command: Any, ctx: Any) -> list[str]:
    rows = ["| option | description | default |", "|---|---|---|"]
    for param in command.params:
        record = param.get_help_record(ctx)
        if record is None:   # hidden
            continue
        opts, text = record
        m = _DEFAULT.search(text or "")
        default = ""
        if m:
            default = "required" if m.group("required") else f"`{m.group('default')}`"
            text = text[:m.start()]
        rows.append(f"| `{opts}` | {_escape(' '.join((text or '').split()))} | {default} |")
    rows.append("| `-h, --help` | Show the help (options and examples) and exit. | |")
    return rows


def _epilog(text: str | None) -> list[str]:
    if not text:
        return []
    # "\b" alone on a line is click's "do not rewrap the next paragraph" marker
    lines = [ln for ln in text.split("\n") if ln.strip() != "\b"]
    body = "\n".join(lines).strip("\n")
    return ["", "From `--help`:", "", "```text", body, "```"]


def options_markdown(name: str | None = None) -> str:
    """Markdown for ``jaxlr NAME`` (usage, summary, options, examples); None: global options."""
    root = _root()
    root_ctx = _context(root, "jaxlr")
    if name is None:
        out = ["Usage: `jaxlr [GLOBAL OPTIONS] COMMAND [OPTIONS] [ARGS]`", ""]
        out += _table(root, root_ctx)
        return "\n".join(out) + "\n"
    if name not in root.commands:
        raise KeyError(f"`jaxlr {name}` is not a command; commands: {', '.join(root.commands)}")
    command = root.commands[name]
    ctx = _context(command, name, root_ctx)
    usage = " ".join(command.collect_usage_pieces(ctx)).replace("{", "").replace("}", "")
    out = [f"Usage: `jaxlr {name} {usage}`", "", (command.help or "").strip(), ""]
    out += _table(command, ctx)
    out += _epilog(command.epilog)
    return "\n".join(out) + "\n"
