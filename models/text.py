"""Text as people see it on a screen or a sheet."""

from __future__ import annotations

import unicodedata


def display_width(text: str) -> int:
    """Columns a text takes in a terminal or a sheet: a Chinese character counts double."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
