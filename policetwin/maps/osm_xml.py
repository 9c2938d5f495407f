"""A streaming reader for OSM XML (``.osm``) files: the drivable way segments and their nodes.

Uses the same car filter and one-way rules as the PBF path (:mod:`policetwin.maps.osm_tags`); segments
whose nodes lie outside the file are skipped, so clipped extracts load too.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from policetwin.errors import MapError
from policetwin.maps.io_util import one_line, segment_lengths
from policetwin.maps.osm_tags import is_drivable

_XML_WAY_TAGS = ("highway", "oneway", "junction", "maxspeed")


def read_osm_xml(path: Path) -> tuple[dict, dict]:
    """Way segments and nodes of the drivable ways of an OSM XML file (streamed)."""
    import xml.etree.ElementTree as ET

    node_ids: list[int] = []
    lons: list[float] = []
    lats: list[float] = []
    ways: list[tuple[int, list[int], dict]] = []
    try:
        context = ET.iterparse(str(path), events=("start", "end"))
        _, root = next(context)
        if root.tag != "osm":
            raise MapError(f"cannot read OSM XML file {path}: the root element is <{root.tag}>, not <osm>")
        for event, elem in context:
            if event != "end" or elem.tag not in ("node", "way", "relation"):
                continue
            deleted = elem.get("action") == "delete" or elem.get("visible") == "false"
            if elem.tag == "node" and not deleted and elem.get("lat") is not None:
                node_ids.append(int(elem.get("id")))
                lons.append(float(elem.get("lon")))
                lats.append(float(elem.get("lat")))
            elif elem.tag == "way" and not deleted:
                tags = {t.get("k"): t.get("v") for t in elem.iter("tag")}
                if is_drivable(tags):
                    refs = [int(nd.get("ref")) for nd in elem.iter("nd")]
                    ways.append((int(elem.get("id")), refs, {k: tags.get(k) for k in _XML_WAY_TAGS}))
            root.clear()  # free what has been read
    except MapError:
        raise
    except StopIteration:
        raise MapError(f"cannot read OSM XML file {path}: no XML content") from None
    except (ET.ParseError, ValueError, TypeError) as exc:
        raise MapError(f"cannot read OSM XML file {path}: {one_line(exc)}") from exc
    except OSError as exc:
        raise MapError(f"cannot read OSM XML file {path}: {exc.strerror or exc}") from exc

    all_ids = np.array(node_ids, dtype=np.int64)
    known = set(node_ids)
    cols: dict[str, list] = {k: [] for k in ("way_id", "u", "v", *_XML_WAY_TAGS)}
    for way_id, refs, tags in ways:
        for a, b in itertools.pairwise(refs):
            if a == b or a not in known or b not in known:  # clipped extract: skip the segment
                continue
            cols["way_id"].append(way_id)
            cols["u"].append(a)
            cols["v"].append(b)
            for k in _XML_WAY_TAGS:
                cols[k].append(tags[k])
    u = np.array(cols["u"], dtype=np.int64)
    v = np.array(cols["v"], dtype=np.int64)
    used = np.isin(all_ids, np.union1d(u, v))
    nodes = {"id": all_ids[used], "lon": np.array(lons)[used], "lat": np.array(lats)[used]}
    segments = {
        "way_id": np.array(cols["way_id"], dtype=np.int64),
        "u": u,
        "v": v,
        "length": segment_lengths(u, v, nodes) if u.size else np.zeros(0),
        **{k: np.array(cols[k], dtype=object) for k in _XML_WAY_TAGS},
    }
    return segments, nodes
