"""The base of every refusal a domain service raises: nothing was changed, ``code`` says why in
a machine-readable way and ``status`` is the HTTP status that fits (the API answers
``{"error": {"code", "message"}}`` with it, see ``kruispunt.api.errors.refusal_response``)."""

from __future__ import annotations


class Refused(Exception):
    code = "refused"
    status = 400

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
