"""Magister-style JSON exports for verzuim-adapter: registrations, reports and feedback.

See ``README.md`` of the distribution for the formats. The vendor name is ``magister``.
"""

__version__ = "0.1.0"
