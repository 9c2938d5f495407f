"""``policetwin init``: a runnable, commented scenario for a new city from a map source (see docs/init.md).

:mod:`.source` resolves and loads SOURCE, :mod:`.pois` reads points of interest, :mod:`.stations` and
:mod:`.demand` decide stations and the demand surface, :mod:`.plan` the units and summary, :mod:`.writer`
writes the validated scenario and :mod:`.cli` is the command.
"""
