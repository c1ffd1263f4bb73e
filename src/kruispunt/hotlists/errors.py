"""What the hotlist service refuses, each with a machine-readable ``code``::

HotlistError
├── EntryInvalid        400: an entry or list field is wrong (no expiry, no legal basis ...)
├── CsvInvalid          400: the file as a whole cannot be read (bad header)
├── HotlistForbidden    403: the actor may not read or change this list
├── HotlistNotFound     404: unknown_list / unknown_entry
└── HotlistConflict     409: list_exists / entry_duplicate
"""

from __future__ import annotations

from kruispunt.errors import Refused


class HotlistError(Refused):
    code = "hotlist_error"


class EntryInvalid(HotlistError):
    code = "invalid_entry"


class CsvInvalid(HotlistError):
    code = "invalid_csv"


class HotlistForbidden(HotlistError):
    code = "forbidden"
    status = 403


class HotlistNotFound(HotlistError):
    code = "unknown_list"
    status = 404


class HotlistConflict(HotlistError):
    code = "conflict"
    status = 409
