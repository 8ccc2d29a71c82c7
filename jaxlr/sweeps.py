"""Public namespace: jaxlr.sweeps (re-exports from jaxlr._src)."""

__all__: list[str] = []
