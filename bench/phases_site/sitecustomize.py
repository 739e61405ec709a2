"""The daemon's probe for ``bench/e2e.py --phases``: the bench puts this directory and
``bench/`` first on the daemon's ``PYTHONPATH``, and names the directory for the totals
in ``VERZUIM_BENCH_PHASES`` (see ``bench/phases.py``)."""

import os

if os.environ.get("VERZUIM_BENCH_PHASES"):
    import phases

    phases.install("adapter", os.environ["VERZUIM_BENCH_PHASES"])
