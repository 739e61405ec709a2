"""Eduarte-style CSV exports for verzuim-adapter (``README.md`` describes the formats).

The vendor object lives in :mod:`verzuim_eduarte.plugin`; the column tables in
:mod:`verzuim_eduarte.schema`.
"""

__version__ = "0.1.0"
