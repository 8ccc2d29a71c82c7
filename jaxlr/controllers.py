"""Public namespace: jaxlr.controllers (re-exports from jaxlr._src)."""

__all__: list[str] = []
