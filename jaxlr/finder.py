"""Public namespace: jaxlr.finder (re-exports from jaxlr._src)."""

__all__: list[str] = []
