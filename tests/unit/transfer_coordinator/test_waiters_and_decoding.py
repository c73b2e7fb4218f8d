"""The in-process pieces around the saga: the registry of waiting requests, and what the reply
consumer accepts."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from transfer_coordinator.adapters.repository import parse_final_notice
from transfer_coordinator.domain.saga import TransferSaga, TransferStatus
from transfer_coordinator.service_layer.waiting import FinalWaiters, wait_for_final
from wallet_shared.contracts.messages import (
    CreditTried,
    TryDebit,
    UndecodableMessage,
    decode_reply,
    encode_transfer_message,
)

TRF = "trf_" + "b" * 32
WALLET = "wlt_001" + "c" * 32


async def test_an_announcement_wakes_every_waiter_of_that_transfer_only() -> None:
    waiters = FinalWaiters()
    with waiters.watch(TRF) as first, waiters.watch(TRF) as second, waiters.watch("other") as other:
        assert len(waiters) == 3
        waiters.announce(TRF)
        waiters.announce(TRF)  # twice is harmless
        assert first.done()
        assert second.done()
        assert not other.done()
        waiters.announce_all()
        assert other.done()
    assert len(waiters) == 0


async def test_announcing_nobody_is_harmless() -> None:
    waiters = FinalWaiters()
    waiters.announce(TRF)
    with waiters.watch(TRF) as woken:
        await asyncio.sleep(0)
        assert not woken.done()


async def test_its_own_notice_wakes_nobody_the_hand_over_follows_it() -> None:
    waiters, elsewhere = FinalWaiters(), FinalWaiters()
    assert waiters.announcer != elsewhere.announcer
    with waiters.watch(TRF) as woken:
        waiters.announce(TRF, waiters.announcer)
        assert not woken.done()
        waiters.announce(TRF, elsewhere.announcer)
        assert woken.done()
        assert woken.result() is None  # woken to read it


@pytest.mark.parametrize(
    ("payload", "parsed"),
    [(TRF, (TRF, None)), (f"{TRF} 0f3a", (TRF, "0f3a")), (f"{TRF} ", (TRF, None))],
)
def test_a_final_notice_names_its_transfer_and_perhaps_its_announcer(
    payload: str, parsed: tuple[str, str | None]
) -> None:
    assert parse_final_notice(payload) == parsed


def test_replies_decode() -> None:
    reply = CreditTried(transfer_id=TRF, wallet_id=WALLET, ok=False, failure_code="x")
    record = encode_transfer_message(reply, topic="t", key=TRF)

    assert decode_reply(record.value) == reply


def test_a_command_on_the_reply_topic_is_refused() -> None:
    command = TryDebit(transfer_id=TRF, wallet_id=WALLET, amount=1, currency="USD")
    record = encode_transfer_message(command, topic="t", key=TRF)

    with pytest.raises(UndecodableMessage, match="not a reply"):
        decode_reply(record.value)
    with pytest.raises(UndecodableMessage):
        decode_reply(b"{not json")


def a_saga(status: TransferStatus) -> TransferSaga:
    now = datetime(2026, 12, 2, tzinfo=UTC)
    begun = TransferSaga.begin(
        transfer_id=TRF,
        source_wallet_id=WALLET,
        destination_wallet_id="wlt_002" + "d" * 32,
        amount=700,
        currency="EUR",
        description=None,
        initiator="alice",
        trace_id="t",
        now=now,
        deadline_at=now + timedelta(seconds=30),
    )
    return replace(begun.saga, status=status)


class NoDatabase:
    """A pool that must not be asked: the saga was handed over."""

    async def fetchrow(self, *_: Any) -> None:
        raise AssertionError("the saga was read again")


async def test_a_waiter_handed_the_final_saga_answers_it_without_reading_it() -> None:
    waiters = FinalWaiters()
    final = a_saga(TransferStatus.COMPLETED)
    ctx: Any = SimpleNamespace(pool=NoDatabase())
    waiting = asyncio.create_task(
        wait_for_final(ctx, waiters, TRF, timeout_s=30, recheck_s=30, just_started=True)
    )
    await asyncio.sleep(0)  # the request runs to its wait: it watches
    assert len(waiters) == 1
    waiters.announce_final(a_saga(TransferStatus.PENDING))  # not final: nobody woken
    await asyncio.sleep(0)
    assert not waiting.done()
    waiters.announce_final(final)
    assert await waiting is final
