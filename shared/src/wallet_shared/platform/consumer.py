"""The batch consumer every service's Kafka entrypoint runs on (also exported by
`wallet_shared.platform.kafka`).

A batch is what `getmany` returned; the handler books it in one DB transaction; offsets are
committed only after that, beside the next fetch and batch rather than before them (one commit in
flight at a time, and at most one started per `commit_interval_s`; what was handled meanwhile goes
with the next one). A consumer off the transfers' way may let messages gather between its batches
(`gather_s`). Failures are sorted: a `TransientError` retries the whole batch (forever, backing
off); anything else isolates the guilty message by retrying one at a time, and a message that
keeps failing, or that cannot be decoded, goes to the dead letters.

A Kafka client that stops working is replaced: a commit that does not come back, or Kafka errors
on every poll, for `stall_timeout_s`. aiokafka can lose its group coordination for good when the
broker dies at the wrong moment (under uvloop a write to the dead connection raises where a
KafkaError was expected, aio-libs/aiokafka#1038); the consumer then stays silent, a member of no
group, while its partitions' commands wait. A fresh client rejoins the group and gets what was
not committed again (handlers are idempotent).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from wallet_shared.contracts.errors import TransientError
from wallet_shared.contracts.messages import UndecodableMessage
from wallet_shared.platform.backoff import backoff_delay
from wallet_shared.platform.loops import BackgroundLoop
from wallet_shared.platform.metrics import CONSUMER_MESSAGES, DEAD_LETTERS

M = TypeVar("M")
T = TypeVar("T")

_log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class ConsumedRecord:
    """A Kafka record as a consumer received it, with where it came from."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]

    def header(self, name: str) -> str | None:
        """The first header called `name`, as text, or None."""
        for header_name, value in self.headers:
            if header_name == name:
                return value.decode("utf-8", "replace")
        return None


class DeadLetterSink(Protocol):
    """Where a consumer parks a record it cannot handle (`dead_letters.DeadLetterStore`)."""

    async def add(self, record: ConsumedRecord, *, error: str, attempts: int) -> None: ...


async def _client_call(call: Awaitable[T]) -> T:
    """A call on the Kafka client: whatever it raises besides a timeout counts as the client's
    failure (`KafkaError`), so that a client failing that way for the stall timeout is replaced
    (a broken connection can surface as a plain RuntimeError, aiokafka #1038)."""
    try:
        return await call
    except (KafkaError, TimeoutError):
        raise
    except Exception as error:
        raise KafkaError(f"{type(error).__name__}: {error}") from error


class _Stopping(BaseException):
    """Raised out of a retry loop when the consumer is asked to stop mid-batch (a BaseException,
    like CancelledError, so that no `except Exception` on the way mistakes it for a failure)."""


class _ClientStalled(Exception):
    """The Kafka client did not complete a commit in time: it is replaced."""


class _AssignmentListener(ConsumerRebalanceListener):  # type: ignore[misc]
    """Tells whether the consumer holds its share of the partitions: from the end of a group
    join until the next rebalance revokes them (during which nothing is consumed)."""

    def __init__(self, *offset_maps: dict[TopicPartition, int]) -> None:
        self.assigned = asyncio.Event()
        self.held: set[TopicPartition] = set()
        self._offset_maps = offset_maps

    def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self.assigned.clear()
        self.held.difference_update(revoked)
        # Whoever gets them next commits them: what this process knew is stale from now on.
        for tp in revoked:
            for offsets in self._offset_maps:
                offsets.pop(tp, None)
        _log.info("partitions_revoked", partitions=[str(tp) for tp in revoked])

    def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        _log.info("partitions_assigned", partitions=[str(tp) for tp in assigned])
        self.held.update(assigned)
        self.assigned.set()


class BatchConsumer(BackgroundLoop, Generic[M]):
    """Consumes one topic in batches for one consumer group; see the module docstring."""

    def __init__(
        self,
        *,
        bootstrap: str,
        topic: str,
        group_id: str,
        service: str,
        decode: Callable[[bytes | None], M],
        handle_batch: Callable[[Sequence[M]], Awaitable[None]],
        dead_letters: DeadLetterSink,
        max_batch: int = 500,
        max_attempts: int = 5,
        poll_timeout_ms: int = 50,
        retry_base_s: float = 0.05,
        retry_cap_s: float = 5.0,
        assignment_timeout_s: float = 30.0,
        stop_timeout_s: float = 10.0,
        stall_timeout_s: float = 30.0,
        commit_interval_s: float = 0.2,
        gather_s: float = 0.0,
        client_factory: Callable[[], AIOKafkaConsumer] | None = None,
    ) -> None:
        """`client_factory` makes the Kafka client (tests); by default an AIOKafkaConsumer of
        `bootstrap` in `group_id` without auto-commit.

        `gather_s`: after a batch, the next one begins no sooner than this long after it began,
        so that what arrives meanwhile gathers into it. For consumers off the transfers' way
        (the oversight of the public events): every batch pays a fixed cost (its fetch, its
        round trips to PostgreSQL, the wake-ups of this process and of PostgreSQL), and a
        consumer that takes each message as it comes pays it per message when the machine is
        not full, on the cores the transfers need. A quiet consumer still takes a lone message
        at once; 0 (the default) never waits."""
        if max_batch < 1 or max_attempts < 1:
            raise ValueError("max_batch and max_attempts must be at least 1")
        if stall_timeout_s <= 0:
            raise ValueError("stall_timeout_s must be positive")
        if commit_interval_s < 0 or gather_s < 0:
            raise ValueError("commit_interval_s and gather_s must not be negative")
        super().__init__(name=f"consumer:{topic}", service=service, stop_timeout_s=stop_timeout_s)
        self._bootstrap = bootstrap
        self._topic = topic
        self._group_id = group_id
        self._service = service
        self._decode = decode
        self._handle_batch = handle_batch
        self._dead_letters = dead_letters
        self._max_batch = max_batch
        self._max_attempts = max_attempts
        self._poll_timeout_ms = poll_timeout_ms
        self._retry_base_s = retry_base_s
        self._retry_cap_s = retry_cap_s
        self._assignment_timeout_s = assignment_timeout_s
        self._stall_timeout_s = stall_timeout_s
        self._client_factory = client_factory or self._new_client
        self._consumer: AIOKafkaConsumer | None = None
        # The next offset to handle, per partition held, as last committed by this process.
        self._committed: dict[TopicPartition, int] = {}
        # Offsets handled and not committed yet, and the commit on its way. Waiting for each
        # commit before the next fetch put a broker round trip into every hop of every transfer;
        # a crash before a commit lands redelivers what was booked, which the handlers recognise.
        self._uncommitted: dict[TopicPartition, int] = {}
        self._commit_in_flight: asyncio.Task[None] | None = None
        # Commits start at most this often: each is a request the broker appends to its offsets
        # log, and under load a batch ends every few milliseconds. A crash redelivers at most
        # this long's worth of booked batches more, which the handlers recognise anyway.
        self._commit_interval_s = commit_interval_s
        self._last_commit_at: float | None = None
        self._gather_s = gather_s
        self._assignment = _AssignmentListener(self._committed, self._uncommitted)
        # Every outcome's series exists from the start at 0, so that a dashboard or an
        # `increase()` shows "none yet" rather than nothing.
        for outcome in ("handled", "retried", "dead_lettered"):
            CONSUMER_MESSAGES.labels(service, topic, outcome)
        DEAD_LETTERS.labels(service, topic)

    @property
    def topic(self) -> str:
        """The topic this consumer reads."""
        return self._topic

    async def lag(self) -> dict[int, int]:
        """Messages not handled yet, by partition this consumer holds: the partition's end
        offset (asked of the broker; the last fetch's high-water mark when it does not answer)
        minus the next offset to handle (after the last commit, or the first of the batch in
        hand; the fetch position of a partition that has sent nothing yet)."""
        consumer = self._consumer
        if consumer is None:
            return {}
        # Read synchronously first: a rebalance can only happen while this coroutine awaits.
        assigned = list(consumer.assignment())
        next_offsets = {tp: self._committed.get(tp) for tp in assigned}
        highwaters = {tp: consumer.highwater(tp) for tp in assigned}
        try:
            # The broker's answer, not the last fetch's: a consumer stuck on a batch stops
            # fetching, and its high-water mark would stop growing with the backlog.
            ends: dict[TopicPartition, int | None] = dict(
                await asyncio.wait_for(consumer.end_offsets(assigned), 5.0)
            )
        except (TimeoutError, KafkaError):
            ends = dict(highwaters)
        lags: dict[int, int] = {}
        for tp in assigned:
            end, next_offset = ends.get(tp), next_offsets[tp]
            if end is None:
                continue
            if next_offset is None:
                try:
                    next_offset = int(await asyncio.wait_for(consumer.position(tp), 1.0))
                except (TimeoutError, KafkaError):
                    continue  # being reassigned: the next pass will tell
            lags[tp.partition] = max(0, end - next_offset)
        return lags

    def ready(self) -> bool:
        """Alive, a member of its group, and holding its partitions (not mid-rebalance)."""
        return self.alive and self._assignment.assigned.is_set()

    async def start(self) -> None:
        """Join the group and start consuming; returns once partitions are assigned.

        Raises TimeoutError when the group join does not complete within `assignment_timeout_s`.
        """
        if self._consumer is not None:
            raise RuntimeError("consumer already started")
        self._consumer = await self._open_client()
        await super().start()
        try:
            await asyncio.wait_for(self._assignment.assigned.wait(), self._assignment_timeout_s)
        except TimeoutError:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop consuming: the batch in hand finishes and is committed, or, when it is still
        retrying, is abandoned uncommitted (it will be delivered again). Leaves the group."""
        await super().stop()
        self._drop_commits()  # a loop cut off by the stop timeout may have left one on its way
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            # Bounded: a wedged client may never finish leaving its group.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(consumer.stop(), self._stall_timeout_s)

    def _new_client(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            group_id=self._group_id,
            client_id=f"{self._service}-{self._group_id}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )

    async def _open_client(self) -> AIOKafkaConsumer:
        """A started client subscribed to the topic, with a fresh assignment listener (not
        ready until the group assigns it partitions)."""
        consumer = self._client_factory()
        self._committed.clear()
        self._drop_commits()
        self._assignment = _AssignmentListener(self._committed, self._uncommitted)
        try:
            # Bounded like every wait on the client: a broker just back may keep it waiting.
            await asyncio.wait_for(consumer.start(), self._stall_timeout_s)
        except BaseException as error:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(consumer.stop(), self._stall_timeout_s)
            if isinstance(error, TimeoutError):
                raise KafkaError(
                    f"Kafka client not started in {self._stall_timeout_s} s"
                ) from error
            raise
        consumer.subscribe(topics=[self._topic], listener=self._assignment)
        return consumer

    async def _replace_client(self, reason: str) -> None:
        """Drop the current client (its stop is bounded: a wedged client may never finish
        stopping) and open a new one; what was not committed is delivered again."""
        _log.warning("consumer_client_replaced", topic=self._topic, reason=reason)
        self._assignment.assigned.clear()  # not ready until the new client is assigned
        old, self._consumer = self._consumer, None
        if old is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(old.stop(), self._stall_timeout_s)
        self._consumer = await self._open_client()

    async def run(self) -> None:
        assert self._consumer is not None, "run() is started by start()"
        failures = 0
        failing_since: float | None = None
        loop = asyncio.get_running_loop()
        with contextlib.suppress(_Stopping):
            while not self.stopping:
                self.beat()
                try:
                    if self._consumer is None:  # a replacement that could not start
                        self._consumer = await self._open_client()
                    consumer = self._consumer
                    fetched = await _client_call(
                        consumer.getmany(
                            timeout_ms=self._poll_timeout_ms, max_records=self._max_batch
                        )
                    )
                    began = loop.time()
                    if fetched:
                        await self._consume(consumer, fetched)
                    self._commit_in_background(consumer)
                    failures, failing_since = 0, None
                    if fetched and self._gather_s:
                        rest = self._gather_s - (loop.time() - began)
                        if rest > 0 and await self.pause(rest):
                            break
                except _ClientStalled:
                    failures += 1
                    await self._replace_after_pause(failures, "commit did not complete")
                except KafkaError as error:
                    # A failed commit (the group rebalanced meanwhile) only means redelivery;
                    # errors on every poll for the stall timeout mean a broken client.
                    failures += 1
                    failing_since = failing_since or loop.time()
                    _log.warning("consumer_kafka_error", topic=self._topic, error=str(error))
                    if loop.time() - failing_since >= self._stall_timeout_s:
                        failing_since = None
                        await self._replace_after_pause(failures, f"Kafka errors: {error}")
                    else:
                        await self._pause(failures)
                except Exception:
                    # A bug, or dead letters that cannot be stored: keep the consumer alive and
                    # the batch unacknowledged (it was rewound), and try again later.
                    failures += 1
                    _log.exception("consumer_batch_error", topic=self._topic)
                    await self._pause(failures)
        await self._commit_before_leaving()

    async def _consume(
        self, consumer: AIOKafkaConsumer, fetched: dict[TopicPartition, list[Any]]
    ) -> None:
        records = [_consumed(message) for messages in fetched.values() for message in messages]
        # Until this process commits a partition, the batch in hand starts what is left to
        # handle there (the lag counts it; the fetch position is already past it).
        for tp, messages in fetched.items():
            self._committed.setdefault(tp, messages[0].offset)
        try:
            await self.process(records)
        except Exception:
            # The fetch position is already past this batch: rewind, or it would be skipped.
            for tp, messages in fetched.items():
                with contextlib.suppress(KafkaError):
                    consumer.seek(tp, messages[0].offset)
            raise
        # A partition revoked while the batch was booked is someone else's to commit now.
        held = self._assignment.held
        self._uncommitted.update(
            {tp: messages[-1].offset + 1 for tp, messages in fetched.items() if tp in held}
        )

    def _commit_in_background(self, consumer: AIOKafkaConsumer) -> None:
        """Start committing what was handled unless a commit is on its way; raise what the last
        one raised (`_ClientStalled`, `KafkaError`), for the loop to deal with."""
        in_flight = self._commit_in_flight
        if in_flight is not None:
            if not in_flight.done():
                return
            self._commit_in_flight = None
            in_flight.result()
        now = asyncio.get_running_loop().time()
        last = self._last_commit_at
        if last is not None and now - last < self._commit_interval_s:
            return  # the next poll (at most `poll_timeout_ms` away) starts it
        if self._uncommitted:
            self._last_commit_at = now
            offsets = dict(self._uncommitted)
            self._uncommitted.clear()
            self._commit_in_flight = asyncio.create_task(self._commit(consumer, offsets))

    async def _commit(self, consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int]) -> None:
        try:
            await _client_call(asyncio.wait_for(consumer.commit(offsets), self._stall_timeout_s))
        except asyncio.CancelledError:
            raise  # dropped with its client: the offsets go with it
        except BaseException as error:
            # Not committed: offered again with the next commit unless later offsets replaced
            # them or the partition went elsewhere (a rebalance redelivers it there anyway).
            for tp, offset in offsets.items():
                if tp in self._assignment.held:
                    self._uncommitted.setdefault(tp, offset)
            if isinstance(error, TimeoutError):
                raise _ClientStalled from error
            raise
        held = self._assignment.held
        self._committed.update({tp: offset for tp, offset in offsets.items() if tp in held})

    async def _commit_before_leaving(self) -> None:
        """On stop: let the commit on its way land and commit what was handled since."""
        consumer = self._consumer
        if self._commit_in_flight is not None:
            with contextlib.suppress(Exception):  # its offsets are put back when it failed
                await self._commit_in_flight
        if consumer is not None and self._uncommitted:
            with contextlib.suppress(Exception):
                await self._commit(consumer, dict(self._uncommitted))
        self._drop_commits()

    def _drop_commits(self) -> None:
        """Forget offsets of a client being dropped: a new client starts from the group's."""
        if self._commit_in_flight is not None:
            self._commit_in_flight.cancel()
            self._commit_in_flight = None
        self._uncommitted.clear()

    async def process(self, records: Sequence[ConsumedRecord]) -> None:
        """Handle `records` (one fetched batch): decode, book, isolate failures, dead-letter.

        Returns once every record is either handled or dead-lettered; offsets are the caller's.
        """
        decoded: list[tuple[ConsumedRecord, M]] = []
        for record in records:
            try:
                decoded.append((record, self._decode(record.value)))
            except UndecodableMessage as error:
                await self._dead_letter(record, error=f"undecodable: {error}", attempts=1)
        # A batch of one goes straight to the counted attempts.
        if len(decoded) > 1 and await self._handle_whole(decoded):
            return
        for record, message in decoded:
            await self._handle_alone(record, message)

    async def _handle_whole(self, decoded: Sequence[tuple[ConsumedRecord, M]]) -> bool:
        """Handle the batch in one go, retrying transient failures; False when it must be split."""
        messages = [message for _, message in decoded]
        retries = 0
        while True:
            try:
                await self._handle_batch(messages)
            except TransientError as error:
                retries += 1
                self._count("retried", len(messages))
                _log.warning("batch_retry", topic=self._topic, size=len(messages), error=str(error))
                await self._pause(retries)
            except Exception as error:
                _log.warning(
                    "batch_failed_isolating",
                    topic=self._topic,
                    size=len(messages),
                    error=str(error),
                )
                return False
            else:
                self._count("handled", len(messages))
                return True

    async def _handle_alone(self, record: ConsumedRecord, message: M) -> None:
        log = _log.bind(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            transfer_id=record.header("transfer_id"),
            message_type=record.header("message_type"),
        )
        attempts = retries = 0
        while True:
            try:
                await self._handle_batch([message])
            except TransientError as error:
                retries += 1
                log.warning("message_retry_transient", error=str(error))
            except Exception as error:
                attempts += 1
                log.warning("message_failed", attempts=attempts, error=repr(error))
                if attempts >= self._max_attempts:
                    await self._dead_letter(record, error=repr(error), attempts=attempts)
                    return
                retries += 1
            else:
                self._count("handled", 1)
                return
            self._count("retried", 1)
            await self._pause(retries)

    async def _dead_letter(self, record: ConsumedRecord, *, error: str, attempts: int) -> None:
        retries = 0
        while True:
            try:
                await self._dead_letters.add(record, error=error, attempts=attempts)
                break
            except TransientError as failure:
                retries += 1
                _log.warning("dead_letter_retry", topic=record.topic, error=str(failure))
                await self._pause(retries)
        self._count("dead_lettered", 1)
        _log.error(
            "message_dead_lettered",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            transfer_id=record.header("transfer_id"),
            message_type=record.header("message_type"),
            attempts=attempts,
            error=error,
        )

    async def _replace_after_pause(self, failures: int, reason: str) -> None:
        await self._pause(failures)
        try:
            await self._replace_client(reason)
        except (KafkaError, OSError) as error:
            # The broker is still away: the loop opens a client again on its next pass.
            self._consumer = None
            _log.warning("consumer_client_unavailable", topic=self._topic, error=str(error))

    async def _pause(self, retry: int) -> None:
        """Back off before retry number `retry`; raises _Stopping when asked to stop meanwhile."""
        delay = backoff_delay(retry, base_s=self._retry_base_s, cap_s=self._retry_cap_s)
        if await self.pause(delay):
            raise _Stopping

    def _count(self, outcome: str, amount: int) -> None:
        CONSUMER_MESSAGES.labels(self._service, self._topic, outcome).inc(amount)


def _consumed(message: Any) -> ConsumedRecord:
    # `message` is aiokafka's ConsumerRecord (the library ships no type information).
    return ConsumedRecord(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        value=message.value,
        headers=tuple(message.headers or ()),
    )
