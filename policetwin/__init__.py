"""PoliceTwin: a discrete-event digital twin of citywide policing on real road networks."""

__version__ = "0.1.0"
