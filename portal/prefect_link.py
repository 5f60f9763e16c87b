"""The link from an occurrence to its obligation's runs in the Prefect UI.

The deployment ``职责检查/{obligation title}`` (models.orchestration) is looked up over Prefect's REST API (2 s timeout),
never by importing Prefect. Answers are cached (found: 10 minutes; not reachable: 1 minute), so a
stopped Prefect server costs one slow page a minute at most, and the link falls back to the UI's
deployments list.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from urllib.parse import quote

import httpx

from shanhai.models.orchestration import CHECK_FLOW

TIMEOUT = 2.0
FOUND_TTL = 600.0
MISSING_TTL = 60.0


@dataclass(frozen=True)
class PrefectLink:
    url: str
    exact: bool  # True: the deployment's own page; False: the deployments list (not found or unreachable)


_cache: dict[tuple[str, str], tuple[float, PrefectLink]] = {}
_lock = threading.Lock()


def deployment_link(ui_url: str, title: str, *, now: float | None = None) -> PrefectLink:
    """The check deployment of the obligation titled ``title``: its page, or the deployments list."""
    base = ui_url.rstrip("/")
    key = (base, title)
    moment = time.monotonic() if now is None else now
    with _lock:
        hit = _cache.get(key)
        if hit is not None and hit[0] > moment:
            return hit[1]
    link = _lookup(base, title)
    with _lock:
        _cache[key] = (moment + (FOUND_TTL if link.exact else MISSING_TTL), link)
    return link


def _lookup(base: str, title: str) -> PrefectLink:
    fallback = PrefectLink(f"{base}/deployments", exact=False)
    try:
        path = f"{quote(CHECK_FLOW, safe='')}/{quote(title, safe='')}"
        response = httpx.get(f"{base}/api/deployments/name/{path}", timeout=TIMEOUT)
    except httpx.HTTPError:
        return fallback
    if response.status_code != 200:
        return fallback
    try:
        deployment_id = response.json()["id"]
    except (ValueError, KeyError, TypeError):
        return fallback
    if not isinstance(deployment_id, str) or not deployment_id:
        return fallback
    return PrefectLink(f"{base}/deployments/deployment/{deployment_id}", exact=True)


def clear_cache() -> None:
    with _lock:
        _cache.clear()
