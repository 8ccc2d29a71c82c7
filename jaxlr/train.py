"""Public namespace: jaxlr.train (re-exports from jaxlr._src)."""

__all__: list[str] = []
