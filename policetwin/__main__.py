"""``python -m policetwin`` runs the command line."""

from policetwin.cli import main

main()
