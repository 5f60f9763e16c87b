"""The link from an occurrence to its obligation's runs in the Prefect UI.

The deployment ``check-obligation/{obligation_id}`` is looked up over Prefect's REST API (2 s timeout),
never by importing Prefect. Answers are cached (found: 10 minutes; not reachable: 1 minute), so a
stopped Prefect server costs one slow page a minute at most, and the link falls back to the UI's
deployments list.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import httpx

TIMEOUT = 2.0
FOUND_TTL = 600.0
MISSING_TTL = 60.0
CHECK_FLOW = "check-obligation"


@dataclass(frozen=True)
class PrefectLink:
    url: str
    exact: bool  # True: the deployment's own page; False: the deployments list (not found or unreachable)


_cache: dict[tuple[str, str], tuple[float, PrefectLink]] = {}
_lock = threading.Lock()


def deployment_link(ui_url: str, obligation_id: str, *, now: float | None = None) -> PrefectLink:
    base = ui_url.rstrip("/")
    key = (base, obligation_id)
    moment = time.monotonic() if now is None else now
    with _lock:
        hit = _cache.get(key)
        if hit is not None and hit[0] > moment:
            return hit[1]
    link = _lookup(base, obligation_id)
    with _lock:
        _cache[key] = (moment + (FOUND_TTL if link.exact else MISSING_TTL), link)
    return link


def _lookup(base: str, obligation_id: str) -> PrefectLink:
    fallback = PrefectLink(f"{base}/deployments", exact=False)
    try:
        response = httpx.get(f"{base}/api/deployments/name/{CHECK_FLOW}/{obligation_id}", timeout=TIMEOUT)
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
