"""Public namespace: jaxlr.sweep (re-exports from jaxlr._src)."""

__all__: list[str] = []
