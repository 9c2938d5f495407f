"""Ring patrols on their round: where an idle ``ring_patrol`` officer is, derived from time.

An idle officer of a ``ring_patrol`` group does not stand at one post: from the moment it is idle at its
own post (``unit.since``: the run's start, or back from a call) it walks the group's posts in their
order along the ring's inside (:func:`policetwin.event.police.post_lonlats`), waiting
:data:`ROUND_DWELL_S` at each and walking each leg on the walk network at :data:`ROUND_SPEED_MPS`
(shortest way, barriers and closures do not stop police; not slowed by the crowd), round and round.
Nothing is simulated: the position is computed when a crowd call asks for it (like a city patrol's
place on its tour). Between two posts the officer answers from the nearer way round: back to the post it
left or on to the next one (both real walks), then to the call.
"""

from __future__ import annotations

import numpy as np

from policetwin.event.foot import walk_times_to_s
from policetwin.event.walknet import WalkNetwork

#: Seconds an officer on a round stays at each post.
ROUND_DWELL_S = 300.0
#: Walking pace between posts (m/s): Weidmann's free speed.
ROUND_SPEED_MPS = 1.34


class Round:
    """A ring patrol group's round: its posts' walk nodes in order and the walk between them."""

    def __init__(self, net: WalkNetwork, nodes: np.ndarray) -> None:
        self.nodes = np.asarray(nodes, dtype=np.int64)
        n = self.nodes.size
        link_s = net.length_m / ROUND_SPEED_MPS
        self.leg_s = np.array([walk_times_to_s(net, link_s, int(self.nodes[(i + 1) % n]))[self.nodes[i]]
                               for i in range(n)]) if n > 1 else np.zeros(n)  # fmt: skip
        # a post no walk reaches (a cut-off map extract): the round stays put (the officers keep their posts)
        self.moves = n > 1 and bool(np.isfinite(self.leg_s).all())

    def where(self, start: int, elapsed_s: float) -> tuple[int, int, float, float]:
        """(post node left, next post node, seconds walked since, seconds of the leg) of an officer that
        set out from post ``start`` ``elapsed_s`` ago; waiting at a post: (post, post, 0, 0)."""
        here = int(self.nodes[start % self.nodes.size])
        if not self.moves or elapsed_s <= 0:
            return here, here, 0.0, 0.0
        n = self.nodes.size
        order = (start + np.arange(n)) % n
        span = ROUND_DWELL_S + self.leg_s[order]
        t = float(elapsed_s) % float(span.sum())
        ends = np.cumsum(span)
        i = int(np.searchsorted(ends, t, side="right").clip(max=n - 1))
        into = t - float(ends[i] - span[i])
        a = int(order[i])
        if into < ROUND_DWELL_S:
            return int(self.nodes[a]), int(self.nodes[a]), 0.0, 0.0
        return int(self.nodes[a]), int(self.nodes[(a + 1) % n]), into - ROUND_DWELL_S, float(self.leg_s[a])

    def eta_s(self, row: np.ndarray, start: int, elapsed_s: float) -> float:
        """Seconds to the call (``row``: seconds from every walk node to it) from where the officer is."""
        a, b, walked, leg = self.where(start, elapsed_s)
        return min(walked + float(row[a]), leg - walked + float(row[b]))
