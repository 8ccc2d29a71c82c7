"""Public namespace: jaxlr.population (evaluating many training runs in one compiled program)."""

from jaxlr.population._map import population_map as population_map
from jaxlr.population._map import population_size as population_size

__all__ = ["population_map", "population_size"]
