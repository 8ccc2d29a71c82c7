"""Public namespace: jaxlr.schedules (re-exports from jaxlr._src)."""

__all__: list[str] = []
