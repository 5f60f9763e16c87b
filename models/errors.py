"""Errors of bad input: each names the field it is about; nothing was stored when one is raised."""

from __future__ import annotations


class InputError(ValueError):
    """Bad input: names the field and says what is wrong; nothing was stored."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")
