"""One error base for the project, with specific subclasses per concern."""

from __future__ import annotations


class PoliceTwinError(Exception):
    """Base of every error PoliceTwin raises on purpose (bad input, missing data)."""


class ScenarioError(PoliceTwinError, ValueError):
    """A scenario file or override is invalid; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class MapError(PoliceTwinError, ValueError):
    """A map source cannot be read or gives no usable road network."""
