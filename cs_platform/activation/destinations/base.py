"""What the engine needs from a destination: batches, a send that answers per
record (matched by key), a check for records an interrupted run may have written,
and call counting (`CallCounter`, shared with the source loads) / API budget."""

from __future__ import annotations

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

    def budget_stop(self, next_batch: Batch) -> str | None:
        """Why the next batch must not be sent (API budget), or None."""
        return None

    def close(self) -> None:  # noqa: B027 (optional hook: most destinations hold nothing to close)
        """Release what the destination holds (HTTP sessions); nothing by default."""


def chunks(records: Sequence, size: int) -> list[list]:
    return [list(records[i:i + size]) for i in range(0, len(records), size)]
