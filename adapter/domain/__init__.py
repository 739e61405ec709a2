"""The canonical domain: model, JSON codec, identifier checks, DUO's business rules and
the school calendar.

Pure logic, no I/O but for reading the calendar's packaged holiday data. Import from
here (``from adapter.domain import Verzuimmelding, check_melding``) rather than from
the submodules.
"""

from adapter.domain.calendar import Calendars, Holiday, Lesson, SchoolCalendar
from adapter.domain.codec import melding_from_dict, melding_to_dict, registratie_from_json
from adapter.domain.identifiers import (
                                  is_valid_brin,
                                  is_valid_bsn,
                                  is_valid_oin,
                                  is_valid_onderwijsnummer,
                                  is_valid_postcode,
                                  is_valid_uuid,
)
from adapter.domain.model import (
                                  EVENT_KINDS,
                                  Behandelaar,
                                  Bijlage,
                                  MappedRecord,
                                  MappedRegistratie,
                                  Melder,
                                  Operation,
                                  OutboundEvent,
                                  Registratie,
                                  RowRejection,
                                  Status,
                                  Student,
                                  Terugmelding,
                                  Verzuimdag,
                                  Verzuimmelding,
                                  Verzuimsoort,
)
from adapter.domain.rules import (
                                  ADAPTER_RULES,
                                  MAX_LENGTHS,
                                  RULES,
                                  Violation,
                                  age_on,
                                  allowed_soorten,
                                  check_melding,
                                  check_registratie,
                                  check_status_sendable,
                                  raise_for_violations,
)

__all__ = [
    "ADAPTER_RULES", "EVENT_KINDS", "MAX_LENGTHS", "RULES", "Behandelaar", "Bijlage", "Calendars", "Holiday",
    "Lesson", "MappedRecord", "SchoolCalendar",
    "MappedRegistratie", "Melder", "Operation", "OutboundEvent", "Registratie", "RowRejection", "Status", "Student", "Terugmelding", "Verzuimdag",
    "Verzuimmelding", "Verzuimsoort", "Violation", "age_on", "allowed_soorten",
    "check_melding", "check_registratie", "check_status_sendable", "is_valid_brin", "is_valid_bsn", "is_valid_oin",
    "is_valid_onderwijsnummer", "is_valid_postcode", "is_valid_uuid", "melding_from_dict",
    "melding_to_dict", "registratie_from_json", "raise_for_violations",
]
