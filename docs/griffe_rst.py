"""Renders jaxlr's docstrings, written in Google style with a few reStructuredText habits, as
Markdown for mkdocstrings. Nothing in ``jaxlr/`` changes; the conversion happens at build time.

* ``:func:`name```, ``:class:``, ``:meth:``, ``:attr:``, ``:mod:``, ``:obj:``, ``:data:``, ``:exc:``
  become links to the entry of the reference where ``name`` is rendered (looked up the way
  Python would: the owner's class, its module, then ``jaxlr`` and each public namespace), or
  inline code when nothing in the reference renders it (private helpers, optax names);
  ``~a.b.c`` shows ``c``;
* ``:math:`x``` becomes inline code, a ``.. math::`` directive a ``tex`` code block;
* a paragraph ending in ``::`` followed by an indented block becomes a paragraph ending in ``:``
  and a code block;
* a reStructuredText *simple table* (``=====  =====`` borders) becomes a Markdown table;
* in a Google ``Args:`` / ``Attributes:`` section, a list of names documented together that
  wraps onto the next line (``a, b, c,`` then ``d: description``) is joined into one line,
  which is how the Google parser expects ``a, b, c, d: description``.

Used as a griffe extension (``extensions:`` in ``mkdocs.yml``) and, through :func:`convert`, by
``docs/gen_ref.py`` for the one-line summaries.
"""

from __future__ import annotations

import re
import textwrap
from typing import Any, Callable, Optional

try:  # griffe comes with the docs extra; the conversion itself is plain Python
    import griffe
except ImportError:  # pragma: no cover - the unit tests run without the docs extra
    griffe = None

Resolver = Callable[[str], Optional[str]]

_ROLE = re.compile(r":(?:py:)?(func|class|meth|attr|mod|obj|data|exc|const|math):`([^`]+)`")
_SIMPLE_TABLE_BORDER = re.compile(r"^(\s*)(=+)( +=+)+\s*$")
_MATH = re.compile(r"^(\s*)\.\. math::\s*(.*)$")
_LITERAL = re.compile(r"^(\s*)(.*?)(\s?)::\s*$")
_NAME_SECTION = re.compile(r"^(\s*)(Args|Arguments|Parameters|Attributes|Keyword Args|"
                           r"Keyword Arguments|Other Parameters):\s*$")
_WRAPPED_NAMES = re.compile(r"^\s*\*{0,2}\w+(\s*,\s*\*{0,2}\w+)*\s*,\s*$")


def _indent_of(line: str) -> int:
    return len(line) - len(line.lstrip())


def _block(lines: list[str], start: int, base: int) -> int:
    """Index after the indented block that starts at ``start`` (lines indented > ``base``)."""
    i = start
    while i < len(lines):
        if lines[i].strip() and _indent_of(lines[i]) <= base:
            break
        i += 1
    while i > start and not lines[i - 1].strip():   # trailing blank lines are not the block's
        i -= 1
    return i


def _fence(indent: str, language: str, body: list[str]) -> list[str]:
    text = textwrap.dedent("\n".join(body)).strip("\n")
    return [f"{indent}```{language}", *[f"{indent}{b}" if b else "" for b in text.split("\n")],
            f"{indent}```"]


def _convert_math(lines: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(lines):
        m = _MATH.match(lines[i])
        if not m:
            out.append(lines[i])
            i += 1
            continue
        indent, first = m.group(1), m.group(2)
        end = _block(lines, i + 1, len(indent))
        body = [first] if first else []
        body += [ln.strip() for ln in lines[i + 1:end]]
        out += _fence(indent, "tex", [b for b in body if b])
        i = end
    return out


def _convert_literal_blocks(lines: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    in_fence = False
    while i < len(lines):
        line = lines[i]
        if line.strip().startswith("```"):
            in_fence = not in_fence
        m = None if in_fence or line.strip().startswith(">>>") else _LITERAL.match(line)
        if not m:
            out.append(line)
            i += 1
            continue
        indent, text = m.group(1), m.group(2)
        j = i + 1
        while j < len(lines) and not lines[j].strip():
            j += 1
        if j >= len(lines) or _indent_of(lines[j]) <= len(indent):
            out.append(line)         # "::" without an indented block: leave it
            i += 1
            continue
        end = _block(lines, j, len(indent))
        if text:
            out += [f"{indent}{text}:", ""]
        out += _fence(indent, "text", lines[j:end])
        i = end
    return out


def _cells(line: str, spans: list[tuple[int, int]]) -> list[str]:
    cells = []
    for k, (a, b) in enumerate(spans):
        end = spans[k + 1][0] if k + 1 < len(spans) else len(line)
        cells.append(line[a:max(end, b)].strip() if len(line) > a else "")
    return cells


def _convert_simple_tables(lines: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(lines):
        m = _SIMPLE_TABLE_BORDER.match(lines[i])
        if not m:
            out.append(lines[i])
            i += 1
            continue
        border = lines[i]
        indent = m.group(1)
        spans = [(mm.start(), mm.end()) for mm in re.finditer(r"=+", border)]
        # border, header, border, rows..., border
        borders = [i]
        j = i + 1
        while j < len(lines) and len(borders) < 3:
            if lines[j].strip() == border.strip() and _indent_of(lines[j]) == len(indent):
                borders.append(j)
            elif not lines[j].strip() and len(borders) < 3:
                break
            j += 1
        if len(borders) < 3:
            out.append(lines[i])
            i += 1
            continue
        header = [_cells(ln, spans) for ln in lines[borders[0] + 1:borders[1]]]
        body = lines[borders[1] + 1:borders[2]]
        rows: list[list[str]] = []
        for ln in body:
            if not ln.strip():
                continue
            cells = _cells(ln, spans)
            if rows and not cells[0]:             # continuation of the previous row
                rows[-1] = [f"{a} {b}".strip() for a, b in zip(rows[-1], cells)]
            else:
                rows.append(cells)
        head = [" ".join(c for c in col if c) for col in zip(*header)] if header else [""] * len(spans)
        esc = lambda c: c.replace("|", "\\|")  # noqa: E731
        out.append(f"{indent}| " + " | ".join(esc(c) for c in head) + " |")
        out.append(f"{indent}|" + "---|" * len(spans))
        out += [f"{indent}| " + " | ".join(esc(c) for c in r) + " |" for r in rows]
        i = borders[2] + 1
    return out


def convert_roles(text: str, resolve: Resolver | None = None) -> str:
    def replace(m: re.Match) -> str:
        role, target = m.group(1), m.group(2).strip()
        if role == "math":
            return f"`{target}`"
        title = None
        explicit = re.match(r"^(.*?)\s*<([^>]+)>$", target)
        if explicit:
            title, target = explicit.group(1), explicit.group(2)
        short = target.startswith("~")
        target = target.lstrip("~").strip()
        bare = target[:-2] if target.endswith("()") else target
        shown = title or (bare.rsplit(".", 1)[-1] if short else bare)
        if role in ("func", "meth") and not title:
            shown += "()" if not shown.endswith("()") else ""
        identifier = resolve(bare) if resolve is not None else None
        return f"[`{shown}`][{identifier}]" if identifier else f"`{shown}`"

    return _ROLE.sub(replace, text)


def _join_wrapped_names(lines: list[str]) -> list[str]:
    """Joins ``a, b,`` + an indented ``c: description`` inside a Google names section."""
    out: list[str] = []
    section: int | None = None
    entry: int | None = None             # the indentation of the section's entries
    i = 0
    while i < len(lines):
        line = lines[i]
        m = _NAME_SECTION.match(line)
        if m:
            section, entry = len(m.group(1)), None
            out.append(line)
            i += 1
            continue
        if section is not None and line.strip():
            if _indent_of(line) <= section:
                section = None
            elif entry is None:
                entry = _indent_of(line)
        if (section is not None and _indent_of(line) == entry
                and _WRAPPED_NAMES.match(line)):
            joined, j = line.rstrip(), i + 1
            while (j < len(lines) and lines[j].strip()
                   and _indent_of(lines[j]) > _indent_of(line)):
                joined += " " + lines[j].strip()
                j += 1
                if not _WRAPPED_NAMES.match(joined):
                    break
            out.append(joined)
            i = j
            continue
        out.append(line)
        i += 1
    return out


def convert(text: str, resolve: Resolver | None = None) -> str:
    """Converts one docstring's reStructuredText habits to Markdown (see the module doc)."""
    lines = text.split("\n")
    lines = _join_wrapped_names(lines)
    lines = _convert_math(lines)
    lines = _convert_simple_tables(lines)
    lines = _convert_literal_blocks(lines)
    return convert_roles("\n".join(lines), resolve)


# ------------------------------------------------------------------------------------------
# The griffe extension
# ------------------------------------------------------------------------------------------


def _lookup(root: Any, path: str) -> Any:
    parts = path.split(".")
    if parts[0] != root.name:
        return None
    cur: Any = root
    for part in parts[1:]:
        try:
            cur = cur.members[part]
        except Exception:  # noqa: BLE001 - unresolvable alias, missing member
            return None
    return cur


def _canonical(obj: Any) -> str | None:
    try:
        return obj.canonical_path
    except Exception:  # noqa: BLE001 - alias to something not loaded (optax, jax)
        return None


class RstToMarkdown(griffe.Extension if griffe is not None else object):
    """Rewrites every jaxlr docstring with :func:`convert`, linking to rendered entries."""

    def on_package(self, *, pkg: Any, **kwargs: Any) -> None:
        if pkg.name != "jaxlr":
            return
        import gen_ref  # the docs/ directory is on sys.path (docs/hooks.py puts it there)

        rendered = gen_ref.rendered_identifiers()
        by_canonical: dict[str, str] = {}
        for identifier in rendered:
            obj = _lookup(pkg, identifier)
            canonical = _canonical(obj) if obj is not None else None
            if canonical is not None:
                by_canonical.setdefault(canonical, identifier)
        namespaces = sorted(set(rendered.values()))

        def resolver(owner: Any) -> Resolver:
            scopes: list[str] = []
            node: Any = owner
            while node is not None:
                if node.is_class or node.is_module:
                    scopes.append(node.path)
                node = node.parent
            scopes += namespaces

            def resolve(name: str) -> str | None:
                candidates = [name] if name.startswith("jaxlr.") else [f"{s}.{name}"
                                                                        for s in scopes]
                for path in candidates:
                    obj = _lookup(pkg, path)
                    if obj is None:
                        continue
                    canonical = _canonical(obj)
                    if canonical is None:
                        return None
                    if canonical in by_canonical:
                        return by_canonical[canonical]
                    # a public member of a rendered class: Class.member
                    head, _, member = canonical.rpartition(".")
                    if head in by_canonical and not member.startswith("_"):
                        parent = _lookup(pkg, by_canonical[head])
                        if parent is not None and getattr(parent, "is_class", False):
                            return f"{by_canonical[head]}.{member}"
                    return None
                return None

            return resolve

        def visit(obj: Any) -> None:
            if obj.docstring is not None and obj.docstring.value:
                obj.docstring.value = convert(obj.docstring.value, resolver(obj))
            for member in obj.members.values():
                if not member.is_alias:
                    visit(member)

        visit(pkg)
