"""The package layout shows the architecture (DESIGN.md section 2), checked on the source.

The layer order itself is an import-linter contract (``pyproject.toml``, run by ``.ci/run``);
these tests check what import-linter does not: no jaxlr imports inside functions, no private
names across subpackages, no private APIs of dependencies, short functions in numeric code, and
one place that applies updates.
"""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1] / "jaxlr"
NUMERIC = ("schedules", "optim", "controllers", "engine", "population", "finder", "sweeps",
           "tasks", "_utils")
#: the longest function body (docstring excluded) in numeric code
MAX_BODY = 120


def _modules():
    for p in sorted(ROOT.rglob("*.py")):
        rel = p.relative_to(ROOT.parent)
        pkg = rel.parts[1] if len(rel.parts) > 2 else None
        yield rel, pkg, ast.parse(p.read_text())


def _body_lines(node) -> int:
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None),
                                                            ast.Constant):
        body = body[1:]                       # the docstring
    if not body:
        return 0
    return body[-1].end_lineno - body[0].lineno + 1


def test_no_jaxlr_imports_inside_functions():
    bad = []
    for rel, _, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for sub in ast.walk(node):
                    mod = getattr(sub, "module", None) if isinstance(sub, ast.ImportFrom) else None
                    names = [a.name for a in sub.names] if isinstance(sub, ast.Import) else []
                    if (mod or "").startswith("jaxlr") or any(n.startswith("jaxlr") for n in names):
                        bad.append(f"{rel}:{sub.lineno} in {node.name}()")
    assert not bad, bad


def test_no_private_names_across_subpackages_and_no_private_dependency_apis():
    bad = []
    for rel, pkg, tree in _modules():
        if rel.name in ("train.py", "optimizers.py") and len(rel.parts) == 2:
            continue                          # the deprecated aliases re-export __all__
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom) or not node.module:
                continue
            parts = node.module.split(".")
            if node.module.startswith(("jax._src", "typer._", "optax._src", "flax.core._")):
                bad.append(f"{rel}: {node.module}")
            if parts[0] != "jaxlr" or len(parts) < 2 or parts[1] in (pkg, "_utils"):
                continue
            if len(parts) >= 3 and parts[2].startswith("_"):
                bad.append(f"{rel}: {node.module}")
            bad += [f"{rel}: {node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
    assert not bad, bad


def test_functions_in_numeric_code_are_short():
    long = [f"{rel}:{node.name} ({_body_lines(node)} lines)"
            for rel, pkg, tree in _modules() if pkg in NUMERIC
            for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and _body_lines(node) > MAX_BODY]
    assert not long, long


def test_only_the_engine_applies_updates():
    users = sorted(str(rel) for rel, _, tree in _modules()
                   if "apply_updates" in ast.dump(tree)
                   and "natural_gradient" not in rel.name)
    assert users == ["jaxlr/engine/_step.py"], users


@pytest.mark.parametrize("layer", NUMERIC[:-1] + ("plotting", "cli"))
def test_every_layer_has_a_public_namespace(layer):
    init = ROOT / layer / "__init__.py"
    tree = ast.parse(init.read_text())
    assert ast.get_docstring(tree), f"jaxlr/{layer}/__init__.py needs a docstring"
