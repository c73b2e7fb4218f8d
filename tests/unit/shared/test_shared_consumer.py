"""How the batch consumer sorts failures (no broker needed: `process` is the batch logic), and
what a dead letter carries."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import KafkaError
from wallet_shared.contracts.errors import TransientError
from wallet_shared.contracts.messages import UndecodableMessage
from wallet_shared.platform.dead_letters import dead_letter_message
from wallet_shared.platform.kafka import BatchConsumer, ConsumedRecord


class RecordingDeadLetters:
    """Stands in for DeadLetterStore: remembers what it was given."""

    def __init__(self) -> None:
        self.added: list[tuple[ConsumedRecord, str, int]] = []

    async def add(self, record: ConsumedRecord, *, error: str, attempts: int) -> None:
        self.added.append((record, error, attempts))


class Ledger:
    """A handler that books text messages, refusing the ones it is told to."""

    def __init__(self, *, poison: set[str] | None = None, transient_failures: int = 0) -> None:
        self.poison = poison or set()
        self.transient_failures = transient_failures
        self.calls: list[list[str]] = []
        self.booked: list[str] = []

    async def handle(self, messages: Sequence[str]) -> None:
        self.calls.append(list(messages))
        if self.transient_failures:
            self.transient_failures -= 1
            raise TransientError("connection lost")
        if self.poison.intersection(messages):
            raise ValueError("cannot book")
        self.booked.extend(messages)


def decode(value: bytes | None) -> str:
    if not value or not value.startswith(b"m"):
        raise UndecodableMessage("not ours")
    return value.decode()


def records(*values: bytes) -> list[ConsumedRecord]:
    return [
        ConsumedRecord(
            topic="wallet.shard-0.commands",
            partition=0,
            offset=offset,
            key=b"wlt_1",
            value=value,
            headers=(("transfer_id", b"trf_1"), ("message_type", b"TryDebit")),
        )
        for offset, value in enumerate(values)
    ]


def consumer(ledger: Ledger, dead: RecordingDeadLetters, **options: Any) -> BatchConsumer[str]:
    return BatchConsumer(
        bootstrap="127.0.0.1:1",
        topic="wallet.shard-0.commands",
        group_id="shard-0",
        service="unit",
        decode=decode,
        handle_batch=ledger.handle,
        dead_letters=dead,
        retry_base_s=0.001,
        retry_cap_s=0.002,
        **options,
    )


async def test_a_good_batch_is_handled_in_one_call() -> None:
    ledger, dead = Ledger(), RecordingDeadLetters()
    await consumer(ledger, dead).process(records(b"m1", b"m2", b"m3"))
    assert ledger.calls == [["m1", "m2", "m3"]]
    assert dead.added == []


async def test_transient_failures_retry_the_whole_batch() -> None:
    ledger, dead = Ledger(transient_failures=3), RecordingDeadLetters()
    await consumer(ledger, dead, max_attempts=2).process(records(b"m1", b"m2"))
    assert ledger.calls == [["m1", "m2"]] * 4
    assert ledger.booked == ["m1", "m2"]
    assert dead.added == []


async def test_a_poison_message_is_isolated_and_dead_lettered_after_its_attempts() -> None:
    ledger, dead = Ledger(poison={"m2"}), RecordingDeadLetters()
    await consumer(ledger, dead, max_attempts=3).process(records(b"m1", b"m2", b"m3"))
    assert ledger.booked == ["m1", "m3"]
    assert ledger.calls.count(["m2"]) == 3
    [(record, error, attempts)] = dead.added
    assert (record.offset, attempts) == (1, 3)
    assert "cannot book" in error


async def test_transient_failures_in_isolation_do_not_count_as_attempts() -> None:
    ledger, dead = Ledger(poison={"m1"}), RecordingDeadLetters()
    calls = 0

    async def flaky_then_poisoned(messages: Sequence[str]) -> None:
        nonlocal calls
        calls += 1
        if len(messages) == 1 and calls in (3, 4):
            raise TransientError("connection lost")
        await ledger.handle(messages)

    batch = consumer(ledger, dead, max_attempts=2)
    batch._handle_batch = flaky_then_poisoned
    await batch.process(records(b"m1", b"m2"))
    assert [attempts for _, _, attempts in dead.added] == [2]
    assert ledger.booked == ["m2"]


async def test_an_undecodable_message_is_dead_lettered_at_once_and_never_handled() -> None:
    ledger, dead = Ledger(), RecordingDeadLetters()
    await consumer(ledger, dead).process(records(b"m1", b"junk", b"m3"))
    assert ledger.calls == [["m1", "m3"]]
    [(record, error, attempts)] = dead.added
    assert (record.value, attempts) == (b"junk", 1)
    assert error.startswith("undecodable")


def test_limits_are_checked_up_front() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        consumer(Ledger(), RecordingDeadLetters(), max_attempts=0)


def test_a_dead_letter_carries_its_origin_and_failure() -> None:
    [record] = records(b"m1")
    message = dead_letter_message(record, error="ValueError('cannot book')", attempts=5)
    assert message.topic == "wallet.shard-0.commands.dlq"
    assert (message.key, message.value) == ("wlt_1", b"m1")
    assert message.headers == {
        "transfer_id": "trf_1",
        "message_type": "TryDebit",
        "error": "ValueError('cannot book')",
        "attempts": "5",
        "origin_topic": "wallet.shard-0.commands",
        "origin_partition": "0",
        "origin_offset": "0",
    }


async def test_a_lone_message_gets_exactly_its_attempts() -> None:
    ledger, dead = Ledger(poison={"m1"}), RecordingDeadLetters()
    await consumer(ledger, dead, max_attempts=4).process(records(b"m1"))
    assert ledger.calls == [["m1"]] * 4
    assert [attempts for _, _, attempts in dead.added] == [4]


# --- a Kafka client that stops working is replaced --------------------------------------------


class FakeMessage:
    """What aiokafka's getmany yields, as far as the consumer reads it."""

    def __init__(self, offset: int, value: bytes) -> None:
        self.topic, self.partition, self.offset = "wallet.shard-0.commands", 0, offset
        self.key, self.value, self.headers = b"wlt_1", value, ()


class FakeClient:
    """Stands in for AIOKafkaConsumer. `wedged`: its commits and its stop never come back, as
    aiokafka's do once its group coordination died (found by `wallet chaos`); `failing`: every
    poll raises a KafkaError, as aiokafka's does once its coordination task ended;
    `stuck_starting`: its start never comes back."""

    def __init__(
        self,
        *,
        wedged: bool = False,
        failing: bool = False,
        stuck_starting: bool = False,
        broken: bool = False,
    ) -> None:
        self.wedged, self.failing, self.stuck_starting = wedged, failing, stuck_starting
        self.broken = broken
        self.commits: list[dict[Any, int]] = []
        self.committed = asyncio.Event()
        self.stop_called = asyncio.Event()
        self.delivered = False

    async def start(self) -> None:
        if self.stuck_starting:  # a broker just back that keeps the client waiting
            await asyncio.Event().wait()

    async def stop(self) -> None:
        self.stop_called.set()
        if self.wedged:
            await asyncio.Event().wait()

    def subscribe(self, *, topics: list[str], listener: Any) -> None:
        listener.on_partitions_assigned([TopicPartition(topics[0], 0)])

    async def getmany(self, *, timeout_ms: int, max_records: int) -> dict[Any, list[Any]]:
        if self.failing:
            raise KafkaError("Unexpected error during coordination")
        if self.broken:  # aiokafka #1038: a broken connection surfacing as a plain error
            raise RuntimeError("Transport is closed")
        if self.delivered:  # nothing more until the batch is committed elsewhere
            await asyncio.sleep(timeout_ms / 1000)
            return {}
        self.delivered = True
        tp = TopicPartition("wallet.shard-0.commands", 0)
        return {tp: [FakeMessage(0, b"m1"), FakeMessage(1, b"m2")]}

    async def commit(self, offsets: dict[Any, int]) -> None:
        if self.wedged:
            await asyncio.Event().wait()
        self.commits.append(offsets)
        self.committed.set()

    def seek(self, tp: Any, offset: int) -> None:
        return None


def replaceable(ledger: Ledger, clients: list[FakeClient]) -> BatchConsumer[str]:
    queue = iter(clients)
    return consumer(
        ledger,
        RecordingDeadLetters(),
        stall_timeout_s=0.2,
        client_factory=lambda: next(queue),  # a FakeClient where an AIOKafkaConsumer goes
    )


async def committed(client: FakeClient) -> None:
    # Generous: that the batch gets committed is tested, not how fast.
    await asyncio.wait_for(client.committed.wait(), 30)


async def test_a_client_whose_commit_never_returns_is_replaced_and_the_batch_redelivered() -> None:
    ledger = Ledger()
    wedged, fresh = FakeClient(wedged=True), FakeClient()
    loop = replaceable(ledger, [wedged, fresh])
    await loop.start()
    try:
        await committed(fresh)
        assert wedged.commits == []
        assert wedged.stop_called.is_set()
        # Booked once by each client: the handlers are idempotent, an uncommitted batch is
        # delivered again rather than lost.
        assert ledger.calls == [["m1", "m2"], ["m1", "m2"]]
        assert list(fresh.commits[0].values()) == [2]
        assert loop.ready()
    finally:
        await loop.stop()


@pytest.mark.parametrize(
    "failure",
    [{"failing": True}, {"broken": True}],  # a KafkaError; a plain error (aiokafka #1038)
    ids=["kafka-error", "other-error"],
)
async def test_a_client_failing_every_poll_is_replaced(failure: dict[str, bool]) -> None:
    ledger = Ledger()
    broken, fresh = FakeClient(**failure), FakeClient()
    loop = replaceable(ledger, [broken, fresh])
    await loop.start()
    try:
        await committed(fresh)
        assert broken.stop_called.is_set()
        assert ledger.booked == ["m1", "m2"]
    finally:
        await loop.stop()


async def test_a_replacement_that_does_not_start_is_given_up_and_another_one_opened() -> None:
    ledger = Ledger()
    wedged, stuck, fresh = FakeClient(wedged=True), FakeClient(stuck_starting=True), FakeClient()
    loop = replaceable(ledger, [wedged, stuck, fresh])
    await loop.start()
    try:
        await committed(fresh)
        assert stuck.stop_called.is_set()
        assert stuck.commits == []
    finally:
        await loop.stop()


class PipelinedClient(FakeClient):
    """Delivers `batches` one per poll; its first commit waits for `release`, like a commit the
    broker is slow to answer, or fails (`first_fails`), like one refused. `commits` lists the
    commits that landed, in the order they landed; `started` counts those asked for."""

    def __init__(self, *batches: list[bytes], first_fails: bool = False) -> None:
        super().__init__()
        self.batches = list(batches)
        self.release = asyncio.Event()
        self.offset = 0
        self.started = 0
        self.first_fails = first_fails

    async def getmany(self, *, timeout_ms: int, max_records: int) -> dict[Any, list[Any]]:
        if not self.batches:
            await asyncio.sleep(timeout_ms / 1000)
            return {}
        batch = [FakeMessage(self.offset + i, value) for i, value in enumerate(self.batches.pop(0))]
        self.offset += len(batch)
        return {TopicPartition("wallet.shard-0.commands", 0): batch}

    async def commit(self, offsets: dict[Any, int]) -> None:
        self.started += 1
        if self.started == 1:
            if self.first_fails:
                raise KafkaError("the group is rebalancing")
            await self.release.wait()
        self.commits.append(offsets)
        self.committed.set()


class NotifyingLedger(Ledger):
    """A Ledger that tells each booking to whoever waits on `changed`."""

    def __init__(self) -> None:
        super().__init__()
        self.changed = asyncio.Event()

    async def handle(self, messages: Sequence[str]) -> None:
        await super().handle(messages)
        self.changed.set()


async def until(condition: Any, changed: asyncio.Event) -> None:
    # Waits for a condition, not for a time: generous, so that a busy machine only slows it.
    async with asyncio.timeout(30):
        while not condition():
            changed.clear()
            await changed.wait()


async def test_the_next_batch_is_booked_while_the_last_commit_is_on_its_way() -> None:
    ledger = NotifyingLedger()
    client = PipelinedClient([b"m1", b"m2"], [b"m3"])
    loop = consumer(ledger, RecordingDeadLetters(), client_factory=lambda: client)
    await loop.start()
    try:
        await until(lambda: ledger.booked == ["m1", "m2", "m3"], ledger.changed)
        assert (client.started, client.commits) == (1, [])  # the first is still on its way
        client.release.set()
        # What was booked meanwhile goes with the next commit, after the first one.
        await until(lambda: len(client.commits) == 2, client.committed)
        assert [list(c.values()) for c in client.commits] == [[2], [3]]
    finally:
        await loop.stop()


async def test_stopping_commits_everything_booked_even_behind_a_slow_commit() -> None:
    ledger = NotifyingLedger()
    client = PipelinedClient([b"m1"], [b"m2", b"m3"])
    loop = consumer(ledger, RecordingDeadLetters(), client_factory=lambda: client)
    await loop.start()
    await until(lambda: ledger.booked == ["m1", "m2", "m3"], ledger.changed)
    stopping = asyncio.create_task(loop.stop())
    await asyncio.sleep(0)  # the stop has begun
    client.release.set()
    await stopping
    # In the order they landed: the one on its way first, then what was booked since.
    assert [list(c.values()) for c in client.commits] == [[1], [3]]


async def test_the_offsets_of_a_failed_commit_go_with_the_next_one() -> None:
    ledger = NotifyingLedger()
    client = PipelinedClient([b"m1", b"m2"], first_fails=True)
    loop = consumer(ledger, RecordingDeadLetters(), client_factory=lambda: client)
    await loop.start()
    try:
        await until(lambda: bool(client.commits), client.committed)
        assert client.started == 2
        assert [list(c.values()) for c in client.commits] == [[2]]
    finally:
        await loop.stop()


class SteppedClient(FakeClient):
    """Delivers its next batch only when `step` is set, once per set; counts its polls, after
    each of which the consumer has decided whether to start a commit. Commits land at once."""

    def __init__(self, *batches: list[bytes]) -> None:
        super().__init__()
        self.batches = list(batches)
        self.step = asyncio.Event()
        self.polled = asyncio.Event()
        self.polls = 0
        self.offset = 0
        self.started = 0

    async def getmany(self, *, timeout_ms: int, max_records: int) -> dict[Any, list[Any]]:
        self.polls += 1
        self.polled.set()
        if not (self.step.is_set() and self.batches):
            await asyncio.sleep(timeout_ms / 1000)
            return {}
        self.step.clear()
        batch = [FakeMessage(self.offset + i, value) for i, value in enumerate(self.batches.pop(0))]
        self.offset += len(batch)
        return {TopicPartition("wallet.shard-0.commands", 0): batch}

    async def commit(self, offsets: dict[Any, int]) -> None:
        self.started += 1
        self.commits.append(offsets)
        self.committed.set()


async def test_commits_start_at_most_once_per_interval_and_stopping_lands_the_rest() -> None:
    ledger = NotifyingLedger()
    client = SteppedClient([b"m1"], [b"m2", b"m3"])
    # An interval no run of this test reaches: only the first batch's commit may start.
    loop = consumer(
        ledger, RecordingDeadLetters(), client_factory=lambda: client, commit_interval_s=3600
    )
    await loop.start()
    try:
        client.step.set()
        await until(lambda: len(client.commits) == 1, client.committed)  # m1's, landed
        client.step.set()
        await until(lambda: ledger.booked == ["m1", "m2", "m3"], ledger.changed)
        polls = client.polls
        await until(lambda: client.polls >= polls + 2, client.polled)  # it looked, twice
        assert client.started == 1
    finally:
        await loop.stop()
    assert [list(c.values()) for c in client.commits] == [[1], [3]]


async def test_offsets_booked_within_the_interval_are_committed_once_it_passed() -> None:
    ledger = NotifyingLedger()
    client = PipelinedClient([b"m1"], [b"m2"], [b"m3"])
    client.release.set()
    loop = consumer(
        ledger, RecordingDeadLetters(), client_factory=lambda: client, commit_interval_s=0.05
    )
    await loop.start()
    try:
        # Without another batch to follow, the idle polls start the commit of the last ones.
        await until(lambda: 3 in client.commits[-1].values() if client.commits else False,
                    client.committed)  # fmt: skip
        assert ledger.booked == ["m1", "m2", "m3"]
    finally:
        await loop.stop()


@pytest.mark.parametrize("option", ["commit_interval_s", "gather_s"])
def test_a_negative_interval_is_refused(option: str) -> None:
    with pytest.raises(ValueError, match=option):
        consumer(Ledger(), RecordingDeadLetters(), **{option: -1})


# --- a consumer off the transfers' way lets messages gather between its batches ---------------


class CountedPolls(PipelinedClient):
    """A PipelinedClient whose commits land at once and which counts its polls."""

    def __init__(self, *batches: list[bytes]) -> None:
        super().__init__(*batches)
        self.release.set()
        self.polls = 0

    async def getmany(self, *, timeout_ms: int, max_records: int) -> dict[Any, list[Any]]:
        self.polls += 1
        return await super().getmany(timeout_ms=timeout_ms, max_records=max_records)


async def test_a_gathering_consumer_polls_again_only_once_its_time_passed_or_it_stops() -> None:
    ledger = NotifyingLedger()
    client = CountedPolls([b"m1"], [b"m2"])
    # Times no run of this test reaches: the second batch waits for the gathering time, and a
    # stop that did not end the wait would hang (bounded below) rather than cut it short.
    loop = consumer(
        ledger,
        RecordingDeadLetters(),
        client_factory=lambda: client,
        gather_s=3600,
        stop_timeout_s=3600,
    )
    await loop.start()
    try:
        await until(lambda: ledger.booked == ["m1"], ledger.changed)
        await until(lambda: bool(client.commits), client.committed)
        for _ in range(100):  # turns enough for a consumer that does not wait to poll again
            await asyncio.sleep(0)
        assert (client.polls, ledger.booked) == (1, ["m1"])
    finally:
        async with asyncio.timeout(30):
            await loop.stop()
    assert [list(c.values()) for c in client.commits] == [[1]]


async def test_a_gathering_consumer_takes_every_batch_in_turn() -> None:
    ledger = NotifyingLedger()
    client = CountedPolls([b"m1"], [b"m2", b"m3"], [b"m4"])
    loop = consumer(ledger, RecordingDeadLetters(), client_factory=lambda: client, gather_s=0.01)
    await loop.start()
    try:
        await until(lambda: ledger.booked == ["m1", "m2", "m3", "m4"], ledger.changed)
        assert ledger.calls == [["m1"], ["m2", "m3"], ["m4"]]
    finally:
        await loop.stop()
    assert list(client.commits[-1].values()) == [4]
