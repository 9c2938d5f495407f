"""Road networks: loading (bundled cities, OSM files, GraphML, places, synthetic), routing, snapping."""

from policetwin.maps.load import load_map
from policetwin.maps.network import RoadNetwork, build_network
from policetwin.maps.router import Router
from policetwin.maps.snap import Snapper

__all__ = ["RoadNetwork", "Router", "Snapper", "build_network", "load_map"]
