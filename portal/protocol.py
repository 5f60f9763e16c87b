"""HTTP details the routes should not each think about: HEAD, and where a redirect may point.

FastAPI routes a ``@get`` for GET only, so a monitor's or link checker's HEAD got 405; and Starlette's
trailing-slash redirect builds an absolute Location from the request's Host header, so
``Host: evil.example`` on ``/report/abc/`` pointed the browser at ``http://evil.example/report/abc``.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit


class HeadAsGet:
    """Answer HEAD as the GET of the same URL without its body: the same status and headers."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "HEAD":
            return await self.app(scope, receive, send)

        async def without_body(message):
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, without_body)


def relative_location(location: str) -> str:
    """The path, query and fragment of a Location, never a host: the portal only redirects to itself.
    Leading slashes collapse to one, so that what is left cannot be read as ``//host/…`` either."""
    parts = urlsplit(location)
    if not parts.scheme and not parts.netloc and not re.match(r"[/\\]{2}", location):
        return location
    path = "/" + re.sub(r"^[/\\]+", "", parts.path)
    return path + (f"?{parts.query}" if parts.query else "") + (f"#{parts.fragment}" if parts.fragment else "")


class RelativeRedirects:
    """Every Location header is made relative (see :func:`relative_location`)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def relative(message):
            if message["type"] == "http.response.start":
                message["headers"] = [
                    (k, relative_location(v.decode("latin-1")).encode("latin-1") if k.lower() == b"location" else v)
                    for k, v in message.get("headers", [])
                ]
            await send(message)

        await self.app(scope, receive, relative)
