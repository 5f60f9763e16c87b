"""The statuses of an occurrence and their traffic lights: one owner for codes, labels and order."""

from __future__ import annotations

from enum import StrEnum


class Light(StrEnum):
    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"
    GREY = "grey"

    @property
    def name_zh(self) -> str:
        return {"green": "绿灯", "yellow": "黄灯", "red": "红灯", "grey": "灰灯"}[self.value]


class Status(StrEnum):
    """Declared most urgent first: listings, message summaries and the board's worst cell use this order."""

    OVERDUE = "overdue"
    MISSED = "missed"
    BEHIND_PACE = "behind_pace"
    DUE_SOON = "due_soon"
    ON_TRACK = "on_track"
    WAIVED = "waived"
    HISTORY = "history"  # unmet, but due before the document took effect or before tracking started
    DONE_LATE = "done_late"
    DONE = "done"

    @property
    def light(self) -> Light:
        return _LIGHTS[self]

    @property
    def label(self) -> str:
        return _LABELS[self]

    @property
    def urgency(self) -> int:
        """0 for the most urgent."""
        return _ORDER[self]

    @property
    def is_final(self) -> bool:
        """Satisfied, waived or closed unmet: the engine chases only the open ones."""
        return self in FINAL


_LIGHTS = {
    Status.DONE: Light.GREEN,
    Status.DONE_LATE: Light.GREEN,
    Status.ON_TRACK: Light.GREEN,
    Status.DUE_SOON: Light.YELLOW,
    Status.BEHIND_PACE: Light.YELLOW,
    Status.OVERDUE: Light.RED,
    Status.MISSED: Light.RED,
    Status.WAIVED: Light.GREY,
    Status.HISTORY: Light.GREY,
}
_LABELS = {
    Status.DONE: "按期完成",
    Status.DONE_LATE: "逾期完成",
    Status.ON_TRACK: "进展正常",
    Status.DUE_SOON: "即将到期",
    Status.BEHIND_PACE: "进度滞后",
    Status.OVERDUE: "已逾期",
    Status.MISSED: "未完成（已关闭）",
    Status.WAIVED: "已豁免",
    Status.HISTORY: "历史期次",
}
_ORDER = {s: i for i, s in enumerate(Status)}
FINAL = frozenset({Status.DONE, Status.DONE_LATE, Status.WAIVED, Status.MISSED, Status.HISTORY})
LIGHT_LABELS = {
    Light.GREEN: "完成/正常",
    Light.YELLOW: "即将到期/进度滞后",
    Light.RED: "逾期/未完成",
    Light.GREY: "豁免/历史",
}


class History(StrEnum):
    """Why an occurrence is history rather than failure (`status --json` field ``history``)."""

    BEFORE_DOCUMENT = "before_document"
    BEFORE_TRACKING = "before_tracking"

    @property
    def label(self) -> str:
        return "文件印发前" if self is History.BEFORE_DOCUMENT else "纳入跟踪前"


def label_of(status: str, history: str | None = None) -> str:
    """The Chinese label of a status code (an unknown code is shown as it is); a history item says why
    it is history (`status --json`'s ``history`` field)."""
    if status == Status.HISTORY and history in set(History):
        return History(history).label
    try:
        return Status(status).label
    except ValueError:
        return status


class RecordState(StrEnum):
    """A completion record's review: submitted -> verified | rejected, nothing else."""

    SUBMITTED = "submitted"
    VERIFIED = "verified"
    REJECTED = "rejected"

    @property
    def counts(self) -> bool:
        """A submitted record counts at once (shown as pending); a rejected one stops counting."""
        return self is not RecordState.REJECTED

    @property
    def label(self) -> str:
        return _RECORD_LABELS[self]

    def can_become(self, other: RecordState) -> bool:
        """Only a submitted record is reviewed, once: a verdict is final (a correction is a new record),
        so a rejection's reason is never overwritten."""
        return other in _REVIEWS.get(self, ())


_RECORD_LABELS = {
    RecordState.SUBMITTED: "待核验",
    RecordState.VERIFIED: "已核验",
    RecordState.REJECTED: "已退回",
}
_REVIEWS: dict[RecordState, tuple[RecordState, ...]] = {RecordState.SUBMITTED: (RecordState.VERIFIED, RecordState.REJECTED)}


def record_label(state: str) -> str:
    """The Chinese label of a record's review state (an unknown code is shown as it is)."""
    try:
        return RecordState(state).label
    except ValueError:
        return state


#: A delivery's states (``Delivery.status``) as people read them.
_DELIVERY_LABELS = {
    "pending": "待发送",
    "sending": "发送中",
    "retry": "待重试",
    "sent": "已送达",
    "failed": "发送失败",
    "unknown": "结果未知（可能已送达，未重发）",
    "local": "未外发（未配置发送渠道）",
}


def delivery_label(status: str) -> str:
    """The Chinese label of a delivery's state (an unknown code is shown as it is)."""
    return _DELIVERY_LABELS.get(status, status)
