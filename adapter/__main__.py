"""``python -m adapter`` runs the command line (see :mod:`adapter.startup`)."""

from adapter.startup import main

main()
