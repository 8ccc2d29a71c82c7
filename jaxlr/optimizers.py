"""Public namespace: jaxlr.optimizers (re-exports from jaxlr._src)."""

__all__: list[str] = []
