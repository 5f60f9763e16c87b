"""Ids in the portal's paths (``/occurrences/{occurrence_id:id}``) read with the one grammar for ids.

A path whose id no row can have (0, or past the key column's range, such as 9223372036854775808) is a
404 before any handler runs: the database would overflow or refuse it with an error (a 500) instead of
finding nothing. Importing this module registers the ``id`` convertor; routes then use ``{name:id}``.
"""

from __future__ import annotations

from starlette.convertors import Convertor, register_url_convertor

from shanhai.models.grammar import normal_text, stored_id
from shanhai.portal.web import PageError


class IdConvertor(Convertor[int | str]):
    regex = "[^/]+"

    def convert(self, value: str) -> int | str:
        if not normal_text(value).isascii() or not normal_text(value).isdigit():
            return value  # not a number: the route's int parameter refuses it, naming the field (422)
        found = stored_id(value)
        if found is None:
            # raised while routing: Starlette's exception middleware turns it into the Chinese 404 page
            raise PageError(404, "页面不存在", f"没有编号为 {value} 的条目。请检查地址，或从总览进入。")
        return found

    def to_string(self, value: int | str) -> str:
        return str(value)


register_url_convertor("id", IdConvertor())
