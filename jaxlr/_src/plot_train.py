"""Plotting functions (matplotlib imported lazily inside each function)."""

__all__: list[str] = []
