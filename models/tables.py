"""The application database: SQLModel tables.

Instants are aware datetimes that SQLModel's UTCDateTime stores as UTC (SQLite keeps no offset);
convert to Asia/Shanghai at the edges.
Dates (due dates, record dates) are calendar dates in Asia/Shanghai.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Text, UniqueConstraint
from sqlmodel import Field, Session, SQLModel

from shanhai.models.grammar import MAX_ID


def utcnow() -> datetime:
    return datetime.now(UTC)


def by_id(session: Session, model: Any, key: int, **options: Any) -> Any:
    """``session.get`` for an id a person typed: None for one no row can have (0, negative, or past
    the key column's range, which PostgreSQL would refuse with an error instead of finding nothing)."""
    return session.get(model, key, **options) if 0 < key <= MAX_ID else None


class Unit(SQLModel, table=True):
    code: str = Field(primary_key=True, max_length=64)
    name: str = Field(index=True, unique=True, max_length=128)
    short: str | None = Field(default=None, max_length=64)
    kind: str = Field(max_length=32)  # county | partner | department | coordinator | supervisor
    aliases: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))


class Pairing(SQLModel, table=True):
    name: str = Field(primary_key=True, max_length=64)
    county: str = Field(foreign_key="unit.name", max_length=128)
    partner: str = Field(foreign_key="unit.name", max_length=128)
    valid_from: int
    valid_until: int | None = None


class Park(SQLModel, table=True):
    name: str = Field(primary_key=True, max_length=128)
    short: str | None = Field(default=None, max_length=64)
    pairing: str = Field(foreign_key="pairing.name", max_length=64)
    host: str = Field(foreign_key="unit.name", max_length=128)
    kind: str = Field(max_length=32)  # eco_park | enclave
    core_area_km2: float | None = None


class Obligation(SQLModel, table=True):
    id: str = Field(primary_key=True, max_length=64)
    document_id: str = Field(index=True, max_length=64)
    title: str = Field(max_length=128)
    clause: str = Field(max_length=128)
    kind: str = Field(max_length=32)
    scope: str = Field(max_length=16)
    valid_from: int
    valid_until: int | None = None
    definition: str = Field(sa_column=Column(Text, nullable=False))  # canonical JSON of the catalogue entry
    definition_hash: str = Field(max_length=64)
    loaded_at: datetime = Field(default_factory=utcnow)


class InvestmentPlan(SQLModel, table=True):
    """A row of 附件1: park x year x kind, amounts in 万元."""

    park: str = Field(primary_key=True, foreign_key="park.name", max_length=128)
    year: int = Field(primary_key=True)
    kind: str = Field(primary_key=True, max_length=16)  # government | attraction
    projects: int
    planned_total: int
    planned_completion: int


class Occurrence(SQLModel, table=True):
    """One obligation, for one scope, for one period."""

    __table_args__ = (UniqueConstraint("obligation_id", "scope", "period", name="uq_occurrence_key"),)

    id: int | None = Field(default=None, primary_key=True)
    obligation_id: str = Field(foreign_key="obligation.id", index=True, max_length=64)
    scope: str = Field(index=True, max_length=128)
    period: str = Field(max_length=16)  # "2026" for yearly kinds, the ISO due date for one-off deadlines
    period_start: date
    due: date  # the effective due date, after the roll policy; kept when the catalogue changes later
    requirement: str = Field(sa_column=Column(Text, nullable=False))  # JSON: what satisfies this occurrence
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class EvidenceFile(SQLModel, table=True):
    """Evidence stored once by content hash under SHANHAI_HOME/evidence."""

    sha256: str = Field(primary_key=True, max_length=64)
    size: int
    stored_at: datetime = Field(default_factory=utcnow)


class ImportBatch(SQLModel, table=True):
    """One imported file, by its content hash: the same file imported twice adds nothing.

    Its records are written in short transactions while ``completed_at`` is NULL and count nowhere until
    the last commit sets it (see models/import_batches.py); ``owner`` is the writing process (host:pid)."""

    id: int | None = Field(default=None, primary_key=True)
    sha256: str = Field(unique=True, max_length=64)
    file_name: str = Field(max_length=255)
    rows: int
    imported_at: datetime = Field(default_factory=utcnow)
    actor: str = Field(max_length=128)
    completed_at: datetime | None = None
    owner: str | None = Field(default=None, max_length=255)


class CompletionRecord(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    occurrence_id: int = Field(foreign_key="occurrence.id", index=True)
    date: date
    count: int = 1
    amount_fen: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    category: str | None = Field(default=None, max_length=64)
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    evidence_sha256: str | None = Field(default=None, foreign_key="evidencefile.sha256", max_length=64)
    evidence_name: str | None = Field(default=None, max_length=255)
    state: str = Field(default="submitted", max_length=16, index=True)  # submitted | verified | rejected
    submitted_by: str | None = Field(default=None, max_length=128)
    created_at: datetime = Field(default_factory=utcnow)
    reviewed_by: str | None = Field(default=None, max_length=128)
    reviewed_at: datetime | None = None
    review_note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    import_batch_id: int | None = Field(default=None, foreign_key="importbatch.id", index=True)


class Waiver(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    occurrence_id: int = Field(foreign_key="occurrence.id", unique=True)
    reason: str = Field(sa_column=Column(Text, nullable=False))
    waived_by: str = Field(max_length=128)
    created_at: datetime = Field(default_factory=utcnow)


class AuditEntry(SQLModel, table=True):
    """Append-only: triggers in the migration refuse UPDATE and DELETE."""

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    actor: str = Field(max_length=128)
    action: str = Field(max_length=64)
    entity: str = Field(max_length=64)
    entity_id: str = Field(max_length=128)
    detail: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))


class OutboxMessage(SQLModel, table=True):
    """One message to one recipient from one run, listing all its items; written before any delivery."""

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32, index=True)  # reminder | digest | delivery_failure
    dedup_key: str | None = Field(default=None, unique=True, max_length=128)  # digests and failure reports
    recipient: str = Field(max_length=128, index=True)  # unit name
    recipient_code: str = Field(max_length=64)
    role: str = Field(max_length=16)  # county | coordinator | supervisor
    stage: str = Field(max_length=32)  # the most advanced stage among its items
    stage_label: str = Field(max_length=64)
    title: str = Field(max_length=255)
    body: str = Field(sa_column=Column(Text, nullable=False))
    payload: str = Field(
        sa_column=Column(Text, nullable=False)
    )  # JSON: what a channel-specific rendering needs
    planned_at: datetime  # the as_of of the run that planned it
    created_at: datetime = Field(default_factory=utcnow)


class OutboxItem(SQLModel, table=True):
    """(occurrence, stage, recipient) is written once, ever: the unique key that makes sending idempotent."""

    __table_args__ = (UniqueConstraint("occurrence_id", "stage", "recipient", name="uq_outbox_item_key"),)

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="outboxmessage.id", index=True)
    occurrence_id: int = Field(foreign_key="occurrence.id", index=True)
    stage: str = Field(max_length=32)
    recipient: str = Field(max_length=128)


class Delivery(SQLModel, table=True):
    """One message on one channel: claimed with a conditional UPDATE, its result and attempts kept."""

    __table_args__ = (UniqueConstraint("message_id", "channel_key", name="uq_delivery_channel"),)

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="outboxmessage.id", index=True)
    channel_key: str = Field(max_length=64)  # sha256 of the channel URL, or "local"
    channel_label: str = Field(max_length=255)  # masked URL, safe to show
    status: str = Field(
        default="pending", max_length=16, index=True
    )  # pending|sending|retry|sent|failed|unknown (may have arrived, never resent)|local
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    next_attempt_at: datetime | None = None
    claimed_at: datetime | None = None
    claim_token: str | None = Field(default=None, max_length=64)
    sent_at: datetime | None = None


class CatalogueState(SQLModel, table=True):
    """What the occurrences were last synced from, so an unchanged catalogue costs one read per run,
    and the latest day any run has evaluated: before it lies history, which a later sync never rewrites
    (a preview with an earlier as_of must not move past deadlines)."""

    key: str = Field(primary_key=True, max_length=32)
    fingerprint: str | None = Field(default=None, max_length=64)
    through_year: int
    high_water: date
    synced_at: datetime = Field(default_factory=utcnow)


class Installation(SQLModel, table=True):
    """One row: what belongs to this installation rather than to any process or home directory, so every
    worker sharing the database agrees: where tracking starts and the key that signs links and names
    channels (unless SHANHAI_SECRET_KEY sets one)."""

    key: str = Field(primary_key=True, max_length=16)
    tracking_from: date
    secret: str = Field(max_length=128)
    created_at: datetime = Field(default_factory=utcnow)
