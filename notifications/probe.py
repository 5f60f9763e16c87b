"""Channel tests: a short message sent now through each channel, outside the reminder outbox.

What Healthchecks gives an operator: proof, on any day, that a unit's channels deliver. A test
message is marked 测试 in its title, names the unit and the time, is never written to the outbox
(no message, no delivery row) and ignores working hours; each channel's outcome is reported,
with the transport's own (scrubbed) error when it fails.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Literal

from shanhai.models.localtime import format_local

from .channels import Channel
from .transport import DeliveryError, RateLimiter, deliver

__all__ = ["PROBE_TITLE", "ProbeResult", "probe_channels", "probe_message"]

#: The robots' keyword security needs 【山海协作】 in the text; 测试 says it needs no action.
PROBE_TITLE = "【山海协作】渠道测试（测试消息，无需处理）"


def probe_message(unit_name: str, at: datetime) -> tuple[str, str]:
    """(title, body) of the test message for ``unit_name`` sent at ``at`` (aware)."""
    body = (
        f"{unit_name}：这是山海协作督办系统的渠道测试消息，无需处理。\n"
        f"发送时间：{format_local(at)}（北京时间）\n"
        "收到本消息，说明督办提醒可以经此渠道送达。"
    )
    return PROBE_TITLE, body


@dataclass(frozen=True)
class ProbeResult:
    unit: str  # the unit's name
    code: str
    channel: str  # masked
    status: Literal["sent", "failed"]
    error: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return asdict(self)


def probe_channels(
    targets: Sequence[tuple[str, Channel]],
    *,
    at: datetime,
    timeout: float = 10.0,
    workers: int = 4,
) -> list[ProbeResult]:
    """Send the test message through each ``(unit name, channel)``; one result each, in order.

    Channels are tried concurrently (``workers``), each within ``timeout`` seconds, and robots
    are kept within their per-minute limits.
    """
    limiter = RateLimiter()

    def one(target: tuple[str, Channel]) -> ProbeResult:
        unit_name, channel = target
        title, body = probe_message(unit_name, at)
        try:
            wait = limiter.acquire(channel)
            if wait:
                time.sleep(wait)
            deliver(channel, title=title, body=body, timeout=timeout)
        except DeliveryError as exc:
            return ProbeResult(unit_name, channel.unit_code, channel.masked_url, "failed", channel.scrub(str(exc)))
        return ProbeResult(unit_name, channel.unit_code, channel.masked_url, "sent")

    if not targets:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(targets)))) as pool:
        return list(pool.map(one, targets))
