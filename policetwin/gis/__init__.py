"""GIS output: a run directory's incidents, trips, stations, posts, districts and coverage as layers
(GeoPackage or GeoJSON) for QGIS/ArcGIS (:mod:`.export`; the command in :mod:`.cli`)."""
