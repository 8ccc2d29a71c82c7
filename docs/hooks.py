"""mkdocs hooks: everything the site generates at build time.

* ``on_config``: puts ``docs/`` on ``sys.path`` (for the generators and the griffe extension)
  and fills the nav's "API reference" section with one page per public namespace;
* ``on_files``: adds the generated reference pages (``docs/gen_ref.py``) and the schedule
  figures (``docs/gen_figures.py``) to the site, in memory: nothing is written to ``docs/``;
* ``on_page_markdown``: expands ``<!-- jaxlr:cli-options [COMMAND] -->`` (``docs/gen_cli.py``)
  and ``<!-- jaxlr:schedule-figure NAME -->`` markers, and fails the strict build when a CLI
  command or a schedule builder is missing from its guide.
"""

from __future__ import annotations

import logging
import os
import re
import sys

DOCS_DIR = os.path.dirname(os.path.abspath(__file__))
if DOCS_DIR not in sys.path:
    sys.path.insert(0, DOCS_DIR)

import gen_cli  # noqa: E402
import gen_figures  # noqa: E402
import gen_ref  # noqa: E402

log = logging.getLogger("mkdocs.hooks.jaxlr")

REFERENCE_TITLE = "API reference"
# A marker stands alone on its line (so that one quoted in text or code is left alone).
MARKER = re.compile(r"^[ \t]*<!--\s*jaxlr:(?P<kind>[a-z-]+)(?:\s+(?P<arg>[\w.-]+))?\s*-->[ \t]*$",
                    re.M)


def _fill_reference_nav(nav: list) -> bool:
    for i, item in enumerate(nav):
        if isinstance(item, dict):
            (title, value), = item.items()
            if title == REFERENCE_TITLE:
                nav[i] = {title: gen_ref.nav_entries()}
                return True
            if isinstance(value, list) and _fill_reference_nav(value):
                return True
    return False


def on_config(config, **kwargs):
    if config.nav is not None and not _fill_reference_nav(config.nav):
        log.warning(f"hooks: the nav has no '{REFERENCE_TITLE}' entry to fill")
    return config


def on_files(files, config, **kwargs):
    from mkdocs.structure.files import File

    for path, text in gen_ref.reference_pages().items():
        files.append(File.generated(config, path, content=text))
    missing = gen_figures.missing_examples()
    if missing:
        log.warning(f"hooks: schedule builders without a figure example in "
                    f"docs/gen_figures.py EXAMPLES: {missing}")
    for path, png in gen_figures.figures().items():
        files.append(File.generated(config, path, content=png))
    return files


def on_page_markdown(markdown, page, config, files, **kwargs):
    src = page.file.src_uri
    seen: dict[str, set] = {"cli-options": set(), "schedule-figure": set()}

    def expand(m: re.Match) -> str:
        kind, arg = m.group("kind"), m.group("arg")
        if kind == "cli-options":
            seen[kind].add(arg)
            if arg is not None and arg not in gen_cli.command_names():
                log.warning(f"hooks: {src}: `jaxlr {arg}` is not a command")
                return ""
            return gen_cli.options_markdown(arg)
        if kind == "schedule-figure":
            seen[kind].add(arg)
            if arg not in gen_figures.EXAMPLES:
                log.warning(f"hooks: {src}: no figure example for schedule {arg!r}")
                return ""
            return gen_figures.figure_markdown(arg, src)
        log.warning(f"hooks: {src}: unknown marker {m.group(0)!r}")
        return m.group(0)

    markdown = MARKER.sub(expand, markdown)
    if src == "cli.md":
        undocumented = [c for c in gen_cli.command_names() if c not in seen["cli-options"]]
        if undocumented:
            log.warning(f"hooks: cli.md has no '<!-- jaxlr:cli-options NAME -->' for: "
                        f"{undocumented}")
    if src == "schedules.md":
        undrawn = [b for b in gen_figures.builder_names() if b not in seen["schedule-figure"]]
        if undrawn:
            log.warning(f"hooks: schedules.md has no '<!-- jaxlr:schedule-figure NAME -->' "
                        f"for: {undrawn}")
    return markdown
