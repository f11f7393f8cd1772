"""What the engine needs from a destination: batches, a send that answers per
record (matched by key), a check for records an interrupted run may have written,
which whole-call refusals are caused by a record (so the engine can isolate it),
and call counting (`CallCounter`, shared with the source loads) / API budget."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from cs_platform.resources.http import CallCounter


@dataclass
class PlannedRecord:
    key: str  # the model's key, as text (external ID value / HubSpot idProperty value)
    record_id: str | None  # the destination's own record ID when the model has it (update by Id)
    payload: dict  # destination field -> value (JSON types; None clears the field)
    hash: str
    operation: str  # create | update (the plan's expectation; the API's answer decides)
    retry: bool = False
    previous: dict | None = None  # last successfully synced payload


@dataclass
class RecordResult:
    success: bool
    created: bool | None = None
    destination_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    # The outcome is not known (a create whose answer was lost, a Bulk result file
    # that could not be read): the record stays in flight and the next run asks
    # the destination before sending it again.
    unknown: bool = False
    # The whole call failed (outage, budget), not the record: it does not count
    # towards the record's dead-letter limit.
    transient: bool = False


@dataclass
class Batch:
    api: str  # e.g. "collections", "bulk2", "batch"
    records: list[PlannedRecord]
    calls_estimate: int = 1


class ApiBudgetExhausted(RuntimeError):
    """The destination refused a call because the API budget is spent; stop cleanly."""

    code = "REQUEST_LIMIT_EXCEEDED"


class Destination(ABC):
    name: str
    # The API's rules, known without a connection (SyncComponent validates declarations with them).
    max_batch_size: ClassVar[int]  # records per write call the API accepts
    record_id_field: ClassVar[str]  # the CRM's own record id field
    concurrency: int = 1  # batches the engine may have in flight at once

    def ready(self) -> None:  # noqa: B027 - replaced per group by the engine; nothing to wait for by default
        """Blocks until the engine's intent checkpoint for the batches being sent is
        written; the engine sets it per group. A destination calls it right before
        the first call that applies records (it may prepare before: a Bulk upload)."""
    max_usage_share: float = 1.0  # of the daily API budget this sync may use up to

    @classmethod
    def canonical_key(cls, spec, key: str) -> str:
        """The key as the destination stores it (HubSpot lower-cases e-mails), so
        results and reads match it."""
        return key

    @classmethod
    def declaration_errors(cls, spec) -> list[tuple[str, str]]:
        """(field, message) for each way the declaration breaks this API's rules."""
        return []

    @classmethod
    @abstractmethod
    def payload(cls, spec, key: str, record_id: str | None, fields: Mapping) -> dict:
        """The record's body exactly as it is sent, which is also what is hashed:
        the mapped `fields` (constants included) plus what identifies the record."""

    def __init__(self, counter: CallCounter | None = None):
        self.counter = counter or CallCounter()

    @property
    def calls(self) -> int:
        return self.counter.calls

    @property
    def write_calls(self) -> int:
        return self.counter.write_calls

    def api_usage_text(self) -> str | None:
        if self.counter.api_max:
            return f"{self.counter.api_used}/{self.counter.api_max}"
        return None

    @abstractmethod
    def batches(self, records: Sequence[PlannedRecord]) -> list[Batch]:
        """Split the plan into the calls it will be sent in."""

    @abstractmethod
    def send(self, batch: Batch) -> Mapping[str, RecordResult]:
        """Send one batch; the outcome of each record, keyed by the record's key.
        Raises when the whole call failed (after the session's retries)."""

    @abstractmethod
    def reconcile(self, records: Sequence[PlannedRecord]) -> Mapping[str, str | None]:
        """Of records an interrupted run sent, those the destination already holds
        as intended: key -> destination ID. Reads only."""

    def budget_stop(self, calls: int) -> str | None:
        """Why the next `calls` calls must not be made (daily API budget), or None."""
        if not self.counter.api_max:
            return None
        ceiling = math.floor(self.max_usage_share * self.counter.api_max)
        if self.counter.api_used + calls > ceiling:
            return (f"{self.name} daily API usage {self.counter.api_used}/{self.counter.api_max}; the next "
                    f"batches need about {calls} call(s) and the sync may use the daily requests only up to "
                    f"{self.max_usage_share:.0%} ({ceiling})")
        return None

    def error_code(self, error: Exception) -> str:
        """The API's own code for a whole-call error, else the exception's class."""
        return getattr(error, "code", None) or type(error).__name__

    def record_level(self, error: Exception) -> bool:
        """Did the API refuse the whole call because of something in its records
        (a 400 such as Salesforce's JSON_PARSER_ERROR for one bad value)? Then the
        engine splits the batch to isolate the bad records and sends the rest."""
        return False

    @property
    def idempotent(self) -> bool:
        """Can a call be repeated without creating a second record? (Upserts and
        updates can; plain creates cannot, and are sent without retries.)"""
        return True

    def close(self) -> None:  # noqa: B027 (optional hook: most destinations hold nothing to close)
        """Release what the destination holds (HTTP sessions); nothing by default."""


def chunks(records: Sequence, size: int) -> list[list]:
    return [list(records[i:i + size]) for i in range(0, len(records), size)]
