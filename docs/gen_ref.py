"""Generates the API reference: one page per public namespace, one entry per public name.

Nothing here lists names: the namespaces are jaxlr itself and its public subpackages (found with
``pkgutil``; deprecated aliases such as ``jaxlr.train`` are skipped), and a namespace's names are
its ``__all__`` read at build time. A namespace without ``__all__`` (today ``jaxlr`` and
``jaxlr.plotting``) contributes its public, non-module attributes defined inside jaxlr. Public
attributes a namespace exposes outside its ``__all__`` (the schedule classes, ``horizon``,
``controllers.simulate``...) are rendered too, in a section of their own.

The top-level ``jaxlr`` page does not render a second copy of what the layers document: it
links each re-exported name to its entry in the layer that defines it, and renders only names
that no layer exports.

Used by ``docs/hooks.py`` (the mkdocs build) and ``tests/test_docs.py`` (in process).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import inspect
import pkgutil
import types
import warnings
from typing import Any

import griffe_rst

# Layers first, in the order of the design's arrow; a namespace that is not listed here (a new
# subpackage) is appended in alphabetical order, so nothing is missed.
PREFERRED_ORDER = ("jaxlr", "jaxlr.schedules", "jaxlr.optim", "jaxlr.controllers", "jaxlr.engine",
                   "jaxlr.population", "jaxlr.finder", "jaxlr.sweeps", "jaxlr.tasks",
                   "jaxlr.plotting", "jaxlr.cli")

REFERENCE_DIR = "reference"


@dataclasses.dataclass
class Namespace:
    """One public namespace and what its reference page shows."""

    module: str                      # "jaxlr.schedules"
    has_all: bool                    # False: names come from the public attributes
    names: list[str]                 # its __all__ (or the fallback), in that order
    extras: list[str]                # public attributes outside __all__, rendered too
    links: dict[str, str]            # name -> identifier of its entry on another page
    summary: str                     # first paragraph of the module docstring (markdown)

    @property
    def page(self) -> str:
        return f"{REFERENCE_DIR}/{self.module}.md"

    @property
    def rendered(self) -> list[str]:
        """Names rendered on this page (not just linked)."""
        return [n for n in self.names + self.extras if n not in self.links]


def _is_deprecated(name: str) -> bool:
    """Whether importing ``name`` warns of a deprecation or its docstring says it is one."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module(name)
    return (any(issubclass(w.category, DeprecationWarning) for w in caught)
            or (module.__doc__ or "").lstrip().lower().startswith("deprecated"))


def namespace_modules() -> list[str]:
    """``jaxlr`` and every public subpackage of it, deprecated aliases excluded."""
    import jaxlr

    found = ["jaxlr"]
    for info in pkgutil.iter_modules(jaxlr.__path__):
        if info.name.startswith("_") or not info.ispkg:
            continue
        name = f"jaxlr.{info.name}"
        if not _is_deprecated(name):
            found.append(name)
    rank = {m: i for i, m in enumerate(PREFERRED_ORDER)}
    return sorted(found, key=lambda m: (rank.get(m, len(rank)), m))


def _defined_in_jaxlr(obj: Any) -> bool:
    if isinstance(obj, types.ModuleType):
        return False
    module = getattr(obj, "__module__", None)
    return isinstance(module, str) and (module == "jaxlr" or module.startswith("jaxlr."))


def _public_attributes(module: types.ModuleType) -> list[str]:
    return [n for n in sorted(vars(module)) if not n.startswith("_")
            and _defined_in_jaxlr(getattr(module, n))]


def public_names(module: types.ModuleType) -> list[str]:
    """The names a namespace exports: ``__all__``, else its public jaxlr attributes."""
    names = getattr(module, "__all__", None)
    if names is None:
        return _public_attributes(module)
    return list(dict.fromkeys(names))


def kind_of(obj: Any) -> str:
    if inspect.isclass(obj):
        return "class"
    if inspect.isroutine(obj) or isinstance(obj, functools.partial):
        return "function"
    return "attribute"


def first_paragraph(obj: Any) -> str:
    """The docstring's first paragraph as one markdown line (roles become code)."""
    if kind_of(obj) == "attribute":
        return ""
    doc = inspect.getdoc(obj) or ""
    para = doc.strip().split("\n\n", 1)[0]
    return griffe_rst.convert(" ".join(para.split())).replace("|", "\\|")


def layout() -> list[Namespace]:
    """Every public namespace with its names, in page order."""
    modules = namespace_modules()
    namespaces: list[Namespace] = []
    owner: dict[int, str] = {}      # id(object) -> identifier of its rendered entry
    for name in modules:
        module = importlib.import_module(name)
        has_all = hasattr(module, "__all__")
        names = public_names(module)
        missing = [n for n in names if not hasattr(module, n)]
        if missing:
            raise AttributeError(f"{name}.__all__ lists names the module does not define: "
                                 f"{missing}")
        extras = ([n for n in _public_attributes(module) if n not in names] if has_all else [])
        doc = inspect.getdoc(module) or ""
        summary = griffe_rst.convert(" ".join(doc.strip().split("\n\n", 1)[0].split()))
        namespaces.append(Namespace(name, has_all, names, extras, {}, summary))
    # Link the top-level re-exports to the layer entries instead of rendering them twice.
    for ns in namespaces[1:]:
        module = importlib.import_module(ns.module)
        for n in ns.names + ns.extras:
            owner.setdefault(id(getattr(module, n)), f"{ns.module}.{n}")
    top = namespaces[0]
    jaxlr = importlib.import_module(top.module)
    for n in top.names + top.extras:
        target = owner.get(id(getattr(jaxlr, n)))
        if target is not None:
            top.links[n] = target
    return namespaces


def _entry(identifier: str) -> str:
    return f"::: {identifier}\n"


def _group(module: types.ModuleType, names: list[str]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {"function": [], "class": [], "attribute": []}
    for n in names:
        groups[kind_of(getattr(module, n))].append(n)
    return groups


_GROUP_TITLES = {"function": "Functions", "class": "Classes", "attribute": "Attributes"}


def page_markdown(ns: Namespace) -> str:
    """The markdown of one namespace's reference page."""
    module = importlib.import_module(ns.module)
    out = [f"---\ntitle: {ns.module}\n---\n",
           f"::: {ns.module}\n    options:\n      members: false\n      show_root_heading: true\n"
           f"      show_root_full_path: true\n      heading_level: 1\n"]
    source = "`__all__`" if ns.has_all else "its public attributes (it has no `__all__`)"
    out.append(f"`{ns.module}` exports {len(ns.names)} names, read from {source} when these "
               f"pages were built.\n")
    def row(n: str) -> str:
        obj = getattr(module, n)
        target = ns.links.get(n, f"{ns.module}.{n}")
        desc = first_paragraph(obj)
        extra = " (outside `__all__`)" if n in ns.extras else ""
        return f"| [`{n}`][{target}] | {kind_of(obj)}{extra} | {desc} |"

    header = "| name | kind | description |\n|---|---|---|"
    local = [n for n in ns.names + ns.extras if n not in ns.links]
    if local:
        out.append("## Summary\n")
        out.append(header)
        out.extend(row(n) for n in local)
        out.append("")
    if ns.links:
        # re-exports, grouped by the layer that documents them (in layer order)
        by_layer: dict[str, list[str]] = {}
        for n in ns.names + ns.extras:
            if n in ns.links:
                by_layer.setdefault(ns.links[n].rsplit(".", 1)[0], []).append(n)
        out.append("## Re-exported names\n")
        out.append(f"Each name below is the same object as in the layer that documents it; "
                   f"the link leads to its entry there.\n")
        rank = {m: i for i, m in enumerate(PREFERRED_ORDER)}
        for layer in sorted(by_layer, key=lambda m: (rank.get(m, len(rank)), m)):
            out.append(f"### From [`{layer}`][{layer}]\n")
            out.append(header)
            out.extend(row(n) for n in by_layer[layer])
            out.append("")
    rendered_names = [n for n in ns.names if n not in ns.links]
    for kind, names in _group(module, rendered_names).items():
        if names:
            out.append(f"## {_GROUP_TITLES[kind]}\n")
            out.extend(_entry(f"{ns.module}.{n}") for n in names)
    extras = [n for n in ns.extras if n not in ns.links]
    if extras:
        out.append(f"## Also in `{ns.module}`\n")
        out.append(f"Public names importable from `{ns.module}` that its `__all__` does not "
                   f"list (so `from {ns.module} import *` does not bring them).\n")
        for kind, names in _group(module, extras).items():
            if names:
                out.append(f"### {_GROUP_TITLES[kind]} outside `__all__`\n")
                out.extend(_entry(f"{ns.module}.{n}") for n in names)
    return "\n".join(out) + "\n"


def index_markdown(namespaces: list[Namespace]) -> str:
    out = ["# API reference\n",
           "One page per public namespace. Each page lists the namespace's names as they are "
           "exported today (its `__all__`, read when this site was built) and renders every one "
           "from its docstring. The top-level `jaxlr` page links each re-exported name to the "
           "layer that defines it.\n",
           "| namespace | names | what it is |", "|---|---|---|"]
    for ns in namespaces:
        out.append(f"| [`{ns.module}`]({ns.module}.md) | {len(ns.names)} | "
                   f"{ns.summary.replace('|', chr(92) + '|')} |")
    return "\n".join(out) + "\n"


def reference_pages() -> dict[str, str]:
    """``{path relative to docs/: markdown}`` for the index and every namespace page."""
    namespaces = layout()
    pages = {f"{REFERENCE_DIR}/index.md": index_markdown(namespaces)}
    for ns in namespaces:
        pages[ns.page] = page_markdown(ns)
    return pages


def nav_entries() -> list[Any]:
    """The reference section of the nav (index first, then one entry per namespace)."""
    return [{"Overview": f"{REFERENCE_DIR}/index.md"}] + [{m: f"{REFERENCE_DIR}/{m}.md"}
                                                          for m in namespace_modules()]


def rendered_identifiers() -> dict[str, str]:
    """``{"jaxlr.schedules.cosine_decay": "jaxlr.schedules", ...}``: every rendered entry."""
    out = {}
    for ns in layout():
        out[ns.module] = ns.module
        for n in ns.rendered:
            out[f"{ns.module}.{n}"] = ns.module
    return out
