"""``python -m adapter`` runs the command line."""

from adapter.cli import main

main()
