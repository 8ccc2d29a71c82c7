"""Checks of the documentation site (``docs/``, ``mkdocs.yml``) that need no mkdocs build.

* every public name of every public namespace is in the generated API reference, and the
  reference follows ``__all__`` (a name added later appears without editing the docs);
* every internal link, anchor and ``[name][identifier]`` cross-reference of the pages resolves;
* no page is empty, no page is a placeholder;
* every schedule builder has a build-time figure and every CLI command its option table;
* the reStructuredText-to-Markdown conversion of docstrings;
* (slow) every Python snippet of the guides runs against the current code.

The full ``mkdocs build --strict`` runs in ``.ci/run`` after the test suite.
"""

from __future__ import annotations

import importlib
import pathlib
import re
import sys
import textwrap

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
if str(DOCS) not in sys.path:
    sys.path.insert(0, str(DOCS))

import gen_cli  # noqa: E402
import gen_figures  # noqa: E402
import gen_ref  # noqa: E402
import griffe_rst  # noqa: E402

# The namespaces the site must document (more may appear: they are discovered).
REQUIRED_NAMESPACES = ["jaxlr", "jaxlr.schedules", "jaxlr.optim", "jaxlr.controllers",
                       "jaxlr.engine", "jaxlr.population", "jaxlr.finder", "jaxlr.sweeps",
                       "jaxlr.tasks", "jaxlr.plotting", "jaxlr.cli"]

PAGES = sorted(p for p in DOCS.rglob("*.md"))
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<ticks>```+|~~~+)(?P<info>[^\n]*)\n(?P<body>.*?)^(?P=indent)(?P=ticks)[ \t]*$",
                   re.M | re.S)
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1", re.S)
LINK = re.compile(r"(?<!\!)\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]+)\)")
IMAGE = re.compile(r"!\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]+)\)")
XREF = re.compile(r"\[(?P<text>[^\]]+)\]\[(?P<id>[A-Za-z_][\w.]*)\]")


@pytest.fixture(scope="module")
def reference_pages() -> dict[str, str]:
    return gen_ref.reference_pages()


def _prose(markdown: str) -> str:
    """The markdown without fenced code blocks and inline code (links there are not links)."""
    return INLINE_CODE.sub("", FENCE.sub("", markdown))


def _all_pages(reference_pages) -> dict[str, str]:
    pages = {p.relative_to(DOCS).as_posix(): p.read_text() for p in PAGES}
    pages.update(reference_pages)
    return pages


# ------------------------------------------------------------------------------------------
# The API reference
# ------------------------------------------------------------------------------------------


def test_every_required_namespace_has_a_page(reference_pages):
    found = gen_ref.namespace_modules()
    assert set(REQUIRED_NAMESPACES) <= set(found)
    for name in found:
        assert f"reference/{name}.md" in reference_pages
    assert [next(iter(e.values())) for e in gen_ref.nav_entries()] == \
        ["reference/index.md"] + [f"reference/{name}.md" for name in found]


def test_deprecated_aliases_have_no_page():
    found = gen_ref.namespace_modules()
    assert "jaxlr.train" not in found and "jaxlr.optimizers" not in found


def _rendered(reference_pages) -> set[str]:
    return {m for text in reference_pages.values()
            for m in re.findall(r"^::: (\S+)$", text, re.M)}


def _resolve(identifier: str):
    parts = identifier.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(identifier)


@pytest.mark.parametrize("namespace", REQUIRED_NAMESPACES)
def test_every_public_name_is_in_the_reference(namespace, reference_pages):
    module = importlib.import_module(namespace)
    names = getattr(module, "__all__", None)
    if names is None:  # no __all__: its public attributes defined in jaxlr
        names = gen_ref.public_names(module)
    assert names, f"{namespace} exports nothing"
    page = reference_pages[f"reference/{namespace}.md"]
    rendered = _rendered(reference_pages)
    for name in names:
        m = re.search(rf"^\| \[`{re.escape(name)}`\]\[(?P<id>[\w.]+)\] \|", page, re.M)
        assert m, f"{namespace}.{name} is not listed on its reference page"
        identifier = m.group("id")
        assert identifier in rendered, f"{namespace}.{name} -> {identifier} is not rendered"
        assert _resolve(identifier) is getattr(module, name), (namespace, name, identifier)


def test_every_rendered_entry_is_rendered_once(reference_pages):
    entries = [m for text in reference_pages.values()
               for m in re.findall(r"^::: (\S+)$", text, re.M)]
    assert len(entries) == len(set(entries))


def test_reference_follows_all(monkeypatch):
    import jaxlr.population

    def docs_probe(x):
        """A name added to ``__all__`` after the docs were written."""
        return x

    docs_probe.__module__ = "jaxlr.population._map"
    monkeypatch.setattr(jaxlr.population, "docs_probe", docs_probe, raising=False)
    monkeypatch.setattr(jaxlr.population, "__all__",
                        list(jaxlr.population.__all__) + ["docs_probe"])
    page = gen_ref.reference_pages()["reference/jaxlr.population.md"]
    assert "::: jaxlr.population.docs_probe" in page
    assert "A name added to ``__all__`` after the docs were written." in page


def test_all_lists_only_defined_names(monkeypatch):
    import jaxlr.population

    monkeypatch.setattr(jaxlr.population, "__all__",
                        list(jaxlr.population.__all__) + ["no_such_name"])
    with pytest.raises(AttributeError, match="no_such_name"):
        gen_ref.reference_pages()


def test_reference_index_lists_every_namespace(reference_pages):
    index = reference_pages["reference/index.md"]
    for name in gen_ref.namespace_modules():
        assert f"[`{name}`]({name}.md)" in index


# ------------------------------------------------------------------------------------------
# Links, anchors, cross-references, content
# ------------------------------------------------------------------------------------------


def _slugify(heading: str) -> str:
    """The anchor Python-Markdown's toc extension gives a heading (its default slugify)."""
    import unicodedata

    text = re.sub(r"\[([^\]]*)\]\[[^\]]*\]|\[([^\]]*)\]\([^)]*\)", r"\1\2", heading)
    text = unicodedata.normalize("NFKD", text.replace("`", "")).encode("ascii", "ignore")
    text = re.sub(r"[^\w\s-]", "", text.decode("ascii")).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def _anchors(markdown: str) -> set[str]:
    anchors: set[str] = set()
    for line in FENCE.sub("", markdown).splitlines():
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            slug = _slugify(m.group(1))
            unique, i = slug, 0
            while unique in anchors:
                i += 1
                unique = f"{slug}_{i}"
            anchors.add(unique)
    return anchors


def _site_files(reference_pages) -> set[str]:
    files = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*") if p.is_file()}
    files |= set(reference_pages)
    files |= {gen_figures.figure_path(n) for n in gen_figures.EXAMPLES}
    return files


def test_internal_links_resolve(reference_pages):
    import posixpath

    pages = _all_pages(reference_pages)
    files = _site_files(reference_pages)
    problems = []
    for src, text in pages.items():
        prose = _prose(text)
        for m in list(LINK.finditer(prose)) + list(IMAGE.finditer(prose)):
            target = m.group("target")
            if re.match(r"^[a-z]+:", target):           # http:, https:, mailto:
                continue
            path, _, anchor = target.partition("#")
            resolved = posixpath.normpath(posixpath.join(posixpath.dirname(src), path)) \
                if path else src
            if resolved not in files:
                problems.append(f"{src}: link to missing {target!r}")
                continue
            if anchor and resolved.endswith(".md") and not resolved.startswith("reference/"):
                if anchor not in _anchors(pages[resolved]):
                    problems.append(f"{src}: no anchor #{anchor} in {resolved}")
    assert not problems, "\n".join(problems)


def test_cross_references_resolve(reference_pages):
    rendered = set(gen_ref.rendered_identifiers())
    problems = []
    for src, text in _all_pages(reference_pages).items():
        for m in XREF.finditer(_prose(text)):
            identifier = m.group("id")
            if identifier in rendered:
                continue
            head, _, member = identifier.rpartition(".")
            if head in rendered and not member.startswith("_"):
                try:                                    # a public member of a rendered class
                    if isinstance(_resolve(head), type) and hasattr(_resolve(head), member):
                        continue
                except (ImportError, AttributeError):
                    pass
            problems.append(f"{src}: [{m.group('text')}][{identifier}] has no rendered entry")
    assert not problems, "\n".join(problems)


def test_every_nav_page_exists():
    import yaml

    class _Loader(yaml.SafeLoader):
        pass

    _Loader.add_multi_constructor("tag:yaml.org,2002:python/", lambda *a: None)
    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=_Loader)

    def walk(items):
        for item in items:
            value = item if isinstance(item, str) else next(iter(item.values()))
            if isinstance(value, list):
                yield from walk(value)
            else:
                yield value

    nav = list(walk(config["nav"]))
    assert "reference/index.md" in nav
    for page in nav:
        if not page.startswith("reference/"):
            assert (DOCS / page).is_file(), page
    hand_written = {p.relative_to(DOCS).as_posix() for p in PAGES}
    assert hand_written <= set(nav), f"pages missing from the nav: {hand_written - set(nav)}"


@pytest.mark.parametrize("page", [p.relative_to(DOCS).as_posix() for p in PAGES])
def test_page_has_content(page):
    text = (DOCS / page).read_text()
    body = [ln for ln in FENCE.sub("", text).splitlines()
            if ln.strip() and not ln.lstrip().startswith(("#", "<!--"))]
    assert len(" ".join(body)) > 400, f"{page} is (nearly) empty"
    assert re.match(r"^# \S", text), f"{page} does not start with a title"
    assert not re.search(r"\b(TODO|TBD|FIXME|XXX)\b|placeholder|coming soon", _prose(text),
                         re.I), f"{page} has a placeholder"


def test_generated_pages_have_content(reference_pages):
    for path, text in reference_pages.items():
        assert len(text) > 300, path
        if path != "reference/index.md":
            assert "::: " in text and "| name | kind | description |" in text, path


def test_getting_started_has_the_quick_start_commands():
    text = (DOCS / "getting-started.md").read_text()
    assert ('python3 -m venv .venv && .venv/bin/pip install -e ".[all]" && '
            '.venv/bin/jaxlr find --out finder-out') in text
    assert ('python3 -m venv .venv && .venv/bin/pip install -q -e ".[test]" && '
            '.venv/bin/python -m pytest -n 2') in text


# ------------------------------------------------------------------------------------------
# Build-time figures and CLI tables
# ------------------------------------------------------------------------------------------


def test_every_schedule_builder_has_a_figure():
    assert gen_figures.missing_examples() == []
    text = (DOCS / "schedules.md").read_text()
    for name in gen_figures.builder_names():
        assert f"<!-- jaxlr:schedule-figure {name} -->" in text, name


def test_figure_examples_parse():
    import jaxlr

    for name, (specs, steps) in gen_figures.EXAMPLES.items():
        assert steps >= 10, name
        for spec in specs:
            jaxlr.parse(spec)


def test_figure_renders_a_png():
    curves = gen_figures.curves(["cosine_decay"])
    png = gen_figures.render("cosine_decay", curves["cosine_decay"])
    assert png.startswith(b"\x89PNG") and len(png) > 5000
    md = gen_figures.figure_markdown("cosine_decay", "schedules.md")
    assert "(assets/schedules/cosine_decay.png)" in md
    assert "(../assets/schedules/cosine_decay.png)" in gen_figures.figure_markdown(
        "cosine_decay", "guide/page.md")


def test_every_cli_command_has_its_options_table(capsys):
    from jaxlr.cli import run

    text = (DOCS / "cli.md").read_text()
    assert "<!-- jaxlr:cli-options -->" in text
    for command in gen_cli.command_names():
        assert f"<!-- jaxlr:cli-options {command} -->" in text, command
        table = gen_cli.options_markdown(command)
        assert run([command, "--help"]) == 0
        help_text = capsys.readouterr().out
        for option in set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", help_text)):
            assert f"{option}" in table, (command, option)


# ------------------------------------------------------------------------------------------
# Docstring conversion
# ------------------------------------------------------------------------------------------


def test_roles_become_links_or_code():
    resolve = {"jaxlr.fit": "jaxlr.engine.fit", "TrainState": "jaxlr.engine.TrainState"}.get
    out = griffe_rst.convert("See :func:`jaxlr.fit`, :class:`~jaxlr.TrainState`, "
                             ":class:`TrainState`, :func:`_private` and :math:`x^2`.", resolve)
    assert out == ("See [`jaxlr.fit()`][jaxlr.engine.fit], `TrainState`, "
                   "[`TrainState`][jaxlr.engine.TrainState], `_private()` and `x^2`.")


def test_math_directive_becomes_a_code_block():
    text = "Decay.\n\n.. math:: \\eta_t = \\eta_0\n          \\gamma^t\n\nMore."
    out = griffe_rst.convert(text)
    assert "```tex\n\\eta_t = \\eta_0\n\\gamma^t\n```" in out and ".. math" not in out


def test_literal_block_becomes_a_code_block():
    text = "Grammar::\n\n    spec := value\n    call := NAME\n\nAfter."
    out = griffe_rst.convert(text)
    assert out.startswith("Grammar:\n\n```text\nspec := value\ncall := NAME\n```")
    assert out.endswith("After.")


def test_simple_table_becomes_a_markdown_table():
    text = textwrap.dedent("""\
        ====== =================
        rule   definition
        ====== =================
        a      first line
               continued
        b      second
        ====== =================
        """)
    out = griffe_rst.convert(text)
    assert "| rule | definition |" in out
    assert "| a | first line continued |" in out and "| b | second |" in out
    assert "=====" not in out


# ------------------------------------------------------------------------------------------
# The guides' snippets run against the current code
# ------------------------------------------------------------------------------------------

SNIPPET_PAGES = [p.relative_to(DOCS).as_posix() for p in PAGES
                 if re.search(r"^[ \t]*```python", p.read_text(), re.M)]


def _snippets(text: str):
    for m in FENCE.finditer(text):
        if m.group("info").strip().split(" ")[0] != "python":
            continue
        body = textwrap.dedent(m.group("body"))
        if body.lstrip().startswith("# not run"):
            continue
        yield text[:m.start()].count("\n") + 1, body


@pytest.mark.slow
@pytest.mark.standard_promotion      # the snippets are user code, run as users run it
@pytest.mark.parametrize("page", SNIPPET_PAGES)
def test_guide_snippets_run(page, tmp_path, monkeypatch):
    """Every ```python block of a page, in order, in one namespace (like a notebook)."""
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.chdir(tmp_path)
    # a page may register tasks (docs/tasks.md does): the registry is restored afterwards
    from jaxlr.engine import _tasks
    monkeypatch.setattr(_tasks, "_REGISTRY", dict(_tasks._REGISTRY))
    namespace: dict = {"__name__": f"docs.{page}"}
    try:
        for line, body in _snippets((DOCS / page).read_text()):
            exec(compile(body, f"docs/{page}:{line}", "exec"), namespace)  # noqa: S102
    finally:
        if "matplotlib.pyplot" in sys.modules:
            sys.modules["matplotlib.pyplot"].close("all")
