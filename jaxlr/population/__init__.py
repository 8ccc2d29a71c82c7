"""Public namespace: jaxlr.population — many training runs in one compiled program.

The only place with mesh, padding and chunking code (see :mod:`jaxlr.population._map`): a
``("trials", "data")`` mesh (:func:`make_mesh`), the one rule for ``mesh`` arguments
(:func:`resolve_mesh`), layouts (:func:`layout`, :func:`pad`, :func:`place`, :func:`unpad`),
and :func:`lanes` (a per-member function over every member, inside a compiled program).
"""

from jaxlr.population._map import AXES as AXES
from jaxlr.population._map import Layout as Layout
from jaxlr.population._map import axis_size as axis_size
from jaxlr.population._map import batch_sharding as batch_sharding
from jaxlr.population._map import to_host as to_host
from jaxlr.population._map import lanes as lanes
from jaxlr.population._map import layout as layout
from jaxlr.population._map import make_mesh as make_mesh
from jaxlr.population._map import pad as pad
from jaxlr.population._map import place as place
from jaxlr.population._map import population_map as population_map
from jaxlr.population._map import population_size as population_size
from jaxlr.population._map import resolve_mesh as resolve_mesh
from jaxlr.population._map import tree_where as tree_where
from jaxlr.population._map import unpad as unpad

__all__ = ["AXES", "Layout", "axis_size", "batch_sharding", "lanes", "layout", "make_mesh", "pad", "place", "to_host",
           "population_map", "population_size", "resolve_mesh", "tree_where", "unpad"]
