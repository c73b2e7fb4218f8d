"""The coordinator's handlers against a real PostgreSQL: starting a transfer (idempotently),
reply batches with duplicates and out-of-order replies, the deadline sweep and the redrive, the
wait for a final status, listing, and the integrity figures."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
from collections.abc import AsyncIterator, Sequence
from typing import Any, cast

import orjson
import pytest
from transfer_coordinator.adapters import repository
from transfer_coordinator.adapters.notifications import FinalStatusListener
from transfer_coordinator.domain.saga import TIMEOUT
from transfer_coordinator.service_layer.claims import Claim, claim_keys
from transfer_coordinator.service_layer.integrity import check_sagas
from transfer_coordinator.service_layer.replies import UnknownTransfer, handle_replies
from transfer_coordinator.service_layer.sweeper import sweep_once
from transfer_coordinator.service_layer.transfers import (
    StartTransfer,
    TransferRequest,
    TransferStarts,
    get_transfer,
    list_transfers,
)
from transfer_coordinator.service_layer.waiting import FinalWaiters, wait_for_final
from wallet_shared.contracts.errors import IdempotencyKeyInUse, IdempotencyKeyReused, NotFound
from wallet_shared.contracts.messages import (
    CancelCredit,
    CancelDebit,
    ConfirmCredit,
    ConfirmDebit,
    CreditCancelled,
    CreditConfirmed,
    CreditTried,
    DebitCancelled,
    DebitConfirmed,
    DebitTried,
    LegReply,
    TryCredit,
    TryDebit,
)
from wallet_shared.platform.idempotency import StoredResponse
from wallet_shared.platform.writes import write_together

from tests.integration.outbox_records import OutboxRecord
from tests.integration.transfer_coordinator.harness import (
    TOPICS,
    Harness,
    count_transactions,
    wallet_on_shard,
)

SOURCE = wallet_on_shard(0)
DESTINATION = wallet_on_shard(1)


def transfer_request(**changes: Any) -> TransferRequest:
    fields: dict[str, Any] = {
        "source_wallet_id": SOURCE,
        "destination_wallet_id": DESTINATION,
        "amount": 1500,
        "currency": "USD",
        "description": "rent",
        "initiator": "alice",
    }
    return TransferRequest(**(fields | changes))


async def start(h: Harness, key: str = "key-1", **changes: Any) -> StoredResponse:
    command = StartTransfer(
        request=transfer_request(**changes), caller="alice", idempotency_key=key, trace_id="tr-1"
    )
    return await TransferStarts(h.ctx).start(command)


async def started_id(h: Harness, key: str = "key-1", **changes: Any) -> str:
    stored = await start(h, key, **changes)
    assert stored.status_code == 202, stored.body
    transfer_id: str = orjson.loads(stored.body)["id"]
    return transfer_id


def tried(
    transfer_id: str, *, debit: bool | None = None, credit: bool | None = None, code: str = ""
) -> list[LegReply]:
    """Try replies: True ok, False refused with `code`, None no reply for that leg."""
    replies: list[LegReply] = []
    if debit is not None:
        failure = None if debit else code
        replies.append(
            DebitTried(transfer_id=transfer_id, wallet_id=SOURCE, ok=debit, failure_code=failure)
        )
    if credit is not None:
        failure = None if credit else code
        replies.append(
            CreditTried(
                transfer_id=transfer_id, wallet_id=DESTINATION, ok=credit, failure_code=failure
            )
        )
    return replies


def confirmed(transfer_id: str) -> list[LegReply]:
    return [
        DebitConfirmed(transfer_id=transfer_id, wallet_id=SOURCE),
        CreditConfirmed(transfer_id=transfer_id, wallet_id=DESTINATION),
    ]


def cancelled(transfer_id: str) -> list[LegReply]:
    return [
        DebitCancelled(transfer_id=transfer_id, wallet_id=SOURCE),
        CreditCancelled(transfer_id=transfer_id, wallet_id=DESTINATION),
    ]


def command_types(records: Sequence[OutboxRecord]) -> list[type]:
    return [type(record.message()) for record in records]


async def test_start_stores_a_pending_saga_and_queues_both_tries(harness: Harness) -> None:
    stored = await start(harness)

    body = orjson.loads(stored.body)
    assert (stored.status_code, stored.replayed) == (202, False)
    assert body["status"] == "pending"
    assert body["amount"] == "1500"
    assert body["failure_code"] is None
    row = await harness.row(body["id"])
    assert (row["phase"], row["initiator"], row["trace_id"]) == ("trying", "alice", "tr-1")
    assert row["deadline_at"] - row["created_at"] == harness.ctx.transfer_deadline
    records = await harness.take_outbox()
    assert command_types(records) == [TryDebit, TryCredit]
    debit, credit = records
    assert (debit.topic, debit.key) == (TOPICS.shard_commands(0), SOURCE)
    assert (credit.topic, credit.key) == (TOPICS.shard_commands(1), DESTINATION)
    assert debit.headers["transfer_id"] == body["id"]
    assert credit.message().model_dump(include={"amount", "currency", "trace_id"}) == {
        "amount": 1500,
        "currency": "USD",
        "trace_id": "tr-1",
    }
    assert harness.wake.calls == 1


async def test_a_repeated_request_replays_the_original_and_starts_nothing(
    harness: Harness,
) -> None:
    first = await start(harness)
    await harness.take_outbox()

    again = await start(harness)

    assert again.replayed
    assert (again.status_code, again.body) == (first.status_code, first.body)
    assert await harness.pool.fetchval("SELECT count(*) FROM transfers") == 1
    assert await harness.take_outbox() == []
    with pytest.raises(IdempotencyKeyReused):
        await start(harness, amount=1501)
    # Keys are scoped to the caller: another key starts another transfer.
    assert (await start(harness, key="key-2")).status_code == 202


async def test_a_key_still_running_answers_in_use(harness: Harness) -> None:
    async with harness.pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1 || ':' || $2, 0))", "alice", "key-1"
        )
        with pytest.raises(IdempotencyKeyInUse):
            await start(harness)


async def test_refusals_are_stored_under_the_key(harness: Harness) -> None:
    same = await start(harness, destination_wallet_id=SOURCE)
    assert same.status_code == 422
    assert orjson.loads(same.body)["code"] == "same_wallet"
    assert (await start(harness, destination_wallet_id=SOURCE)).replayed
    unknown = await start(harness, key="key-2", destination_wallet_id="wlt_nope")
    assert (unknown.status_code, orjson.loads(unknown.body)["code"]) == (404, "not_found")
    too_much = await start(harness, key="key-3", amount=10**15 + 1)
    assert orjson.loads(too_much.body)["code"] == "validation_error"
    assert await harness.pool.fetchval("SELECT count(*) FROM transfers") == 0
    assert await harness.take_outbox() == []


async def test_starts_that_arrive_together_are_stored_together(harness: Harness) -> None:
    # A key claimed before for another request (a deposit booked on a shard).
    assert await claim_keys(harness.ctx, [Claim("alice", "taken", "f" * 64)]) == [True]
    starts = TransferStarts(harness.ctx, max_in_flight=1)

    def command(key: str, **changes: Any) -> StartTransfer:
        request = transfer_request(**changes)
        return StartTransfer(request=request, caller="alice", idempotency_key=key)

    results = await asyncio.gather(
        starts.start(command("k0")),  # alone, at once; the others form the next batch
        starts.start(command("k1")),
        starts.start(command("k2", amount=7)),
        starts.start(command("k1")),
        starts.start(command("k1", amount=8)),
        starts.start(command("taken")),
        starts.start(command("k3", destination_wallet_id=SOURCE)),
        return_exceptions=True,
    )
    k0, k1, k2, k1_again, k1_other, taken, same_wallet = results
    assert isinstance(k0, StoredResponse)
    assert isinstance(k1, StoredResponse)
    assert isinstance(k2, StoredResponse)
    assert [r.status_code for r in (k0, k1, k2)] == [202, 202, 202]
    assert k1_again == StoredResponse(202, k1.body, replayed=True)
    assert isinstance(k1_other, IdempotencyKeyReused)
    assert isinstance(taken, StoredResponse)  # the key's answer here from now on
    assert (taken.status_code, orjson.loads(taken.body)["code"]) == (422, "idempotency_key_reused")
    assert isinstance(same_wallet, StoredResponse)
    assert orjson.loads(same_wallet.body)["code"] == "same_wallet"
    stored = await harness.pool.fetch("SELECT id, amount FROM transfers ORDER BY amount")
    started = [orjson.loads(r.body) for r in (k0, k1, k2)]
    assert sorted((row["id"], row["amount"]) for row in stored) == sorted(
        (transfer["id"], int(transfer["amount"])) for transfer in started
    )
    tries = await harness.take_outbox()
    assert len(tries) == 6  # TryDebit and TryCredit of each
    assert await claim_keys(harness.ctx, [Claim("alice", "k2", "f" * 64)]) == [False]


async def test_claims_commit_statement_by_statement_without_a_transaction(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch of claims is one statement (two when a concurrent claim held a key): each
    commits alone, and BEGIN and COMMIT around them would triple their round trips."""
    opened = count_transactions(harness, monkeypatch)
    k1, k1_other, k2 = (
        Claim("dora", "k1", "a" * 64),
        Claim("dora", "k1", "b" * 64),
        Claim("dora", "k2", "c" * 64),
    )
    assert await claim_keys(harness.ctx, [k1, k2, k1_other]) == [True, True, False]
    assert await claim_keys(harness.ctx, [k1, k1_other]) == [True, False]
    assert opened.count == 0
    held = await harness.pool.fetch(
        "SELECT key, fingerprint FROM idempotency_claims WHERE caller = 'dora' ORDER BY key"
    )
    assert [tuple(row) for row in held] == [("k1", "a" * 64), ("k2", "c" * 64)]


async def test_both_tries_ok_confirm_then_both_confirmed_complete(harness: Harness) -> None:
    transfer_id = await started_id(harness)
    await harness.take_outbox()

    # Duplicated, in one batch and again in the next.
    await handle_replies(harness.ctx, tried(transfer_id, credit=True) * 2)
    await handle_replies(harness.ctx, tried(transfer_id, debit=True, credit=True))
    decided = await harness.take_outbox()
    assert command_types(decided) == [ConfirmDebit, ConfirmCredit]
    assert [r.topic for r in decided] == [TOPICS.shard_commands(0), TOPICS.shard_commands(1)]
    assert (await harness.row(transfer_id))["phase"] == "confirming"

    debit_done, credit_done = confirmed(transfer_id)
    await handle_replies(harness.ctx, [credit_done, credit_done])
    assert (await harness.row(transfer_id))["status"] == "pending"
    harness.clock.advance(0.25)
    await handle_replies(harness.ctx, [debit_done, credit_done, debit_done])

    row = await harness.row(transfer_id)
    assert (row["status"], row["phase"], row["failure_code"]) == ("completed", "done", None)
    (event,) = await harness.take_outbox()
    assert (event.topic, event.key, event.headers["event_type"]) == (
        TOPICS.events,
        SOURCE,
        "transfer.completed",
    )
    assert event.event()["transfer"]["status"] == "completed"
    # Anything arriving afterwards changes nothing and sends nothing.
    await handle_replies(
        harness.ctx, [*tried(transfer_id, debit=False, code="x"), *cancelled(transfer_id)]
    )
    assert (await harness.row(transfer_id))["updated_at"] == row["updated_at"]
    assert await harness.take_outbox() == []


async def test_a_refusal_cancels_both_legs_and_a_late_ok_changes_nothing(
    harness: Harness,
) -> None:
    transfer_id = await started_id(harness)
    await harness.take_outbox()

    await handle_replies(harness.ctx, tried(transfer_id, credit=False, code="wallet_not_active"))
    decided = await harness.take_outbox()
    assert command_types(decided) == [CancelDebit, CancelCredit]
    await handle_replies(harness.ctx, tried(transfer_id, debit=True))
    assert await harness.take_outbox() == []
    await handle_replies(harness.ctx, list(reversed(cancelled(transfer_id))))

    row = await harness.row(transfer_id)
    assert (row["status"], row["failure_code"]) == ("cancelled", "wallet_not_active")
    (event,) = await harness.take_outbox()
    assert event.headers["event_type"] == "transfer.cancelled"
    assert event.event()["transfer"]["failure_code"] == "wallet_not_active"


async def test_a_batch_of_many_sagas_in_any_order_moves_each_once(harness: Harness) -> None:
    ids = [await started_id(harness, key=f"k{n}", amount=100 + n) for n in range(40)]
    await harness.take_outbox()
    refused = set(ids[::4])
    batch: list[LegReply] = []
    for transfer_id in ids:
        ok = transfer_id not in refused
        batch += tried(transfer_id, debit=ok, credit=True, code="insufficient_funds")
    batch = batch * 2
    random.Random(7).shuffle(batch)

    await handle_replies(harness.ctx, batch)

    records = await harness.take_outbox()
    confirms = [r.message() for r in records if isinstance(r.message(), ConfirmDebit)]
    cancels = [r.message() for r in records if isinstance(r.message(), CancelDebit)]
    assert len(records) == 2 * len(ids)
    assert {m.transfer_id for m in confirms} == set(ids) - refused
    assert {m.transfer_id for m in cancels} == refused
    phases = dict(await harness.pool.fetch("SELECT id, phase FROM transfers"))
    assert {i for i, phase in phases.items() if phase == "cancelling"} == refused


async def test_a_reply_for_an_unknown_transfer_fails_the_batch_and_commits_nothing(
    harness: Harness,
) -> None:
    transfer_id = await started_id(harness)
    await harness.take_outbox()
    stray = tried("trf_" + "0" * 32, debit=True)

    with pytest.raises(UnknownTransfer):
        await handle_replies(harness.ctx, [*tried(transfer_id, debit=True, credit=True), *stray])

    assert (await harness.row(transfer_id))["phase"] == "trying"
    assert await harness.take_outbox() == []


async def test_the_sweeper_cancels_a_transfer_still_trying_past_its_deadline(
    harness: Harness,
) -> None:
    transfer_id = await started_id(harness)
    await handle_replies(harness.ctx, tried(transfer_id, debit=True))
    await harness.take_outbox()

    harness.clock.advance(31)
    result = await sweep_once(harness.ctx)

    assert (result.timed_out, result.redriven) == (1, 0)
    row = await harness.row(transfer_id)
    assert (row["phase"], row["failure_code"]) == ("cancelling", TIMEOUT)
    assert command_types(await harness.take_outbox()) == [CancelDebit, CancelCredit]
    # The credit leg's Try arriving now is too late.
    await handle_replies(harness.ctx, tried(transfer_id, credit=True))
    assert (await harness.row(transfer_id))["phase"] == "cancelling"
    await handle_replies(harness.ctx, cancelled(transfer_id))
    assert (await harness.row(transfer_id))["status"] == "cancelled"


async def test_the_sweeper_redrives_idle_sagas_and_never_cancels_a_confirm(
    harness: Harness,
) -> None:
    trying = await started_id(harness, key="a")
    confirming = await started_id(harness, key="b")
    await handle_replies(harness.ctx, tried(confirming, debit=True, credit=True))
    await handle_replies(harness.ctx, confirmed(confirming)[1:])
    await harness.take_outbox()
    await handle_replies(harness.ctx, tried(trying, credit=True))

    harness.clock.advance(4)
    assert (await sweep_once(harness.ctx)).redriven == 0
    harness.clock.advance(2)
    result = await sweep_once(harness.ctx)

    assert (result.timed_out, result.redriven) == (0, 2)
    resent = {(r.message().transfer_id, type(r.message())) for r in await harness.take_outbox()}
    assert resent == {(trying, TryDebit), (confirming, ConfirmDebit)}
    # updated_at moved: the next pass does not send them again at once.
    assert (await sweep_once(harness.ctx)).redriven == 0
    harness.clock.advance(3600)
    await sweep_once(harness.ctx)
    assert (await harness.row(confirming))["phase"] == "confirming"
    assert (await harness.row(trying))["failure_code"] == TIMEOUT


async def test_a_saga_touches_no_index_until_its_final_status(harness: Harness) -> None:
    """The updates of a saga in flight are HOT (migration 021): only the last one, which makes
    it final, writes index entries."""
    transfer_id = await started_id(harness)
    async with harness.pool.acquire() as conn, conn.transaction():
        for replies in (
            tried(transfer_id, debit=True, credit=True),
            *map(list, zip(confirmed(transfer_id))),
        ):
            harness.clock.advance(1)  # each step moves `updated_at`, as replies do
            saga = (await repository.lock_sagas(conn, [transfer_id]))[transfer_id]
            for reply in replies:
                saga = saga.on_reply(reply, harness.ctx.clock()).saga
            await write_together(conn, repository.saving_sagas([saga]))
        updates = await conn.fetchrow(
            "SELECT n_tup_upd AS all, n_tup_hot_upd AS hot FROM pg_stat_xact_user_tables"
            " WHERE relname = 'transfers'"
        )
    assert saga.status.value == "completed"
    assert (updates["all"], updates["hot"]) == (3, 2)


async def test_the_sweeper_skips_sagas_another_transaction_holds(harness: Harness) -> None:
    held = await started_id(harness, key="a")
    free = await started_id(harness, key="b")
    harness.clock.advance(60)
    async with harness.pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT 1 FROM transfers WHERE id = $1 FOR UPDATE", held)
        result = await asyncio.wait_for(sweep_once(harness.ctx), 5)
    assert result.timed_out == 1
    assert (await harness.row(free))["phase"] == "cancelling"
    assert (await harness.row(held))["phase"] == "trying"


@contextlib.asynccontextmanager
async def listening(harness: Harness, waiters: FinalWaiters) -> AsyncIterator[None]:
    """A process's LISTEN connection feeding `waiters`, for the block."""
    listener = FinalStatusListener(
        dsn=harness.dsn, on_final=waiters.announce, on_reconnect=waiters.announce_all
    )
    await listener.start()
    try:
        yield
    finally:
        await listener.stop()


async def test_a_waiter_wakes_on_the_final_status(harness: Harness) -> None:
    waiters = FinalWaiters()
    async with listening(harness, waiters):
        transfer_id = await started_id(harness)
        # recheck_s is long: only the notification can wake the waiter in time.
        waiting = asyncio.create_task(
            wait_for_final(harness.ctx, waiters, transfer_id, timeout_s=20, recheck_s=20)
        )
        await handle_replies(harness.ctx, tried(transfer_id, debit=True, credit=True))
        await asyncio.sleep(0.1)
        assert not waiting.done()
        assert len(waiters) == 1
        await handle_replies(harness.ctx, confirmed(transfer_id))
        saga = await asyncio.wait_for(waiting, 5)
        assert saga is not None
        assert saga.status.value == "completed"
        assert len(waiters) == 0


class HeardWaiters(FinalWaiters):
    """A process's registry that records the notices its listener hears and what each of its
    waiters was woken with (the saga itself, or None: read it)."""

    def __init__(self) -> None:
        super().__init__()
        self.heard: list[tuple[str, str | None]] = []
        self.notice = asyncio.Event()
        self.woken_with: list[Any] = []

    def announce(self, transfer_id: str, announcer: str | None = None) -> None:
        self.heard.append((transfer_id, announcer))
        self.notice.set()
        super().announce(transfer_id, announcer)

    def _wake(self, transfer_id: str, saga: Any) -> None:
        self.woken_with.append(saga)
        super()._wake(transfer_id, saga)


async def test_this_processs_waiters_are_handed_the_saga_and_the_others_read_it(
    harness: Harness,
) -> None:
    here, elsewhere = HeardWaiters(), HeardWaiters()
    async with listening(harness, here), listening(harness, elsewhere):
        transfer_id = await started_id(harness)
        await handle_replies(harness.ctx, tried(transfer_id, debit=True, credit=True))
        waiting = [
            asyncio.create_task(
                wait_for_final(harness.ctx, w, transfer_id, timeout_s=20, recheck_s=20)
            )
            for w in (here, elsewhere)
        ]
        await asyncio.sleep(0)  # both requests watch before the batch commits
        await handle_replies(harness.ctx, confirmed(transfer_id), waiters=here)
        handed, read = await asyncio.wait_for(asyncio.gather(*waiting), 5)
        await asyncio.wait_for(here.notice.wait(), 5)  # its own notice came too, and was ignored

        assert here.heard == [(transfer_id, here.announcer)]
        assert elsewhere.heard == [(transfer_id, here.announcer)]
        assert len(here.woken_with) == 1
        assert here.woken_with[0] is handed  # the very saga handed over, never a re-read
        assert handed is not None
        assert handed.status.value == "completed"
        assert elsewhere.woken_with == [None]
        assert read == handed


class FailingAfterTheBody:
    """A unit of work whose transactions fail after their body ran: with `committed`, once the
    transaction committed (an error on release, a connection lost while COMMIT's answer was on
    its way); else before the commit, so that nothing of it stays."""

    def __init__(self, uow: Any, *, committed: bool) -> None:
        self._uow = uow
        self._committed = committed

    @contextlib.asynccontextmanager
    async def transaction(self, **options: Any) -> AsyncIterator[Any]:
        if self._committed:
            async with self._uow.transaction(**options) as tx:
                yield tx
            raise ConnectionResetError("connection lost after COMMIT")
        async with self._uow.transaction(**options) as tx:
            yield tx
            raise ConnectionResetError("connection lost before COMMIT")


@pytest.mark.parametrize("committed", [True, False], ids=["committed", "rolled-back"])
async def test_a_batch_that_fails_after_announcing_wakes_this_processs_waiters_to_read(
    harness: Harness, committed: bool
) -> None:
    here = HeardWaiters()
    async with listening(harness, here):
        transfer_id = await started_id(harness)
        await handle_replies(harness.ctx, tried(transfer_id, debit=True, credit=True))
        # recheck_s is long: only a wake-up can end the wait in time.
        waiting = asyncio.create_task(
            wait_for_final(harness.ctx, here, transfer_id, timeout_s=30, recheck_s=30)
        )
        await asyncio.sleep(0)  # the request watches before the batch
        failing = dataclasses.replace(
            harness.ctx, uow=cast(Any, FailingAfterTheBody(harness.ctx.uow, committed=committed))
        )
        # (TransientError when raised inside the transaction: the database's failure.)
        with pytest.raises(Exception, match="connection lost"):
            await handle_replies(failing, confirmed(transfer_id), waiters=here)
        # Its own notice (when it committed) is ignored; the failure woke it, to read.
        assert here.woken_with == [None]
        if committed:
            saga = await asyncio.wait_for(waiting, 5)
            assert saga is not None
            assert saga.status.value == "completed"
        else:
            # Nothing committed: the re-read finds it pending, and the request waits on.
            assert (await harness.row(transfer_id))["status"] == "pending"
            assert not waiting.done()
            await handle_replies(harness.ctx, confirmed(transfer_id), waiters=here)
            saga = await asyncio.wait_for(waiting, 5)
            assert saga is not None
            assert saga.status.value == "completed"


async def test_a_waiter_gives_up_at_its_timeout_with_the_pending_saga(harness: Harness) -> None:
    transfer_id = await started_id(harness)
    saga = await wait_for_final(
        harness.ctx, FinalWaiters(), transfer_id, timeout_s=0.3, recheck_s=0.1
    )
    assert saga is not None
    assert saga.status.value == "pending"


async def test_listing_a_wallet_pages_newest_first_on_both_sides(harness: Harness) -> None:
    other = wallet_on_shard(1)
    ids = []
    for n in range(5):
        harness.clock.advance(1)
        if n % 2:
            changes = {"source_wallet_id": DESTINATION, "destination_wallet_id": SOURCE}
        else:
            changes = {}
        ids.append(await started_id(harness, key=f"k{n}", **changes))
    await started_id(harness, key="elsewhere", source_wallet_id=other)

    seen: list[str] = []
    cursor = None
    while True:
        page = await list_transfers(harness.ctx, wallet_id=SOURCE, limit=2, cursor=cursor)
        seen += [transfer.id for transfer in page.items]
        if page.next_cursor is None:
            break
        # A transfer arriving meanwhile does not shift the pages.
        harness.clock.advance(1)
        await started_id(harness, key=f"new-{len(seen)}")
        cursor = page.next_cursor
    assert seen == list(reversed(ids))
    assert (await get_transfer(harness.ctx, ids[0])).amount == 1500
    with pytest.raises(NotFound):
        await get_transfer(harness.ctx, "trf_" + "f" * 32)
    with pytest.raises(NotFound):
        await get_transfer(harness.ctx, "not-an-id")


async def test_integrity_figures(harness: Harness) -> None:
    in_flight = await started_id(harness, key="a", amount=700)
    done = await started_id(harness, key="b", amount=50)
    stuck = await started_id(harness, key="c")
    await handle_replies(harness.ctx, tried(in_flight, debit=True, credit=True))
    await handle_replies(harness.ctx, confirmed(in_flight)[:1])
    await handle_replies(harness.ctx, tried(done, debit=False, code="insufficient_funds"))
    await handle_replies(harness.ctx, cancelled(done))
    harness.clock.advance(30 + 61)

    report = await check_sagas(harness.ctx, [done, in_flight, "trf_" + "1" * 32])

    assert report.pending == 2
    # Past its deadline by the grace period (60 s), confirming or not, is stuck.
    assert set(report.stuck) == {stuck, in_flight}
    assert report.final_with_active_legs == [done]
    assert report.in_flight == {"USD": 700}
