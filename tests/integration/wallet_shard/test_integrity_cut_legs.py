"""A shard's part of the integrity check's cut: the confirmed legs of the sagas it names (ids
from `recent_from` on, or listed), from the same snapshot as its totals."""

from __future__ import annotations

from wallet_shard.service_layer.integrity import shard_integrity
from wallet_shared.contracts.ids import new_transfer_id, saga_transfer_id_floor
from wallet_shared.contracts.messages import ConfirmCredit, ConfirmDebit, Leg, TryCredit, TryDebit

from .conftest import Shard
from .test_shard_ledger import deposit, leg, open_wallet, run_batch

OLD = "trf_" + "0" * 32
RECENT_FROM = saga_transfer_id_floor(1)  # every id made after the first ms of 1970


async def test_the_cut_lists_confirmed_legs_of_recent_and_named_sagas_only(shard: Shard) -> None:
    payer = await open_wallet(shard)
    payee = await open_wallet(shard, currency="USD")
    await deposit(shard, payer.id, 1000)
    confirmed_out, confirmed_in, open_out = new_transfer_id(), new_transfer_id(), new_transfer_id()
    await run_batch(
        shard,
        [
            leg(TryDebit, payer.id, confirmed_out, 300),
            leg(TryDebit, payer.id, OLD, 100),
            leg(TryDebit, payer.id, open_out, 50),
            leg(TryCredit, payee.id, confirmed_in, 40),
        ],
    )
    await run_batch(
        shard,
        [
            leg(ConfirmDebit, payer.id, confirmed_out, 300),
            leg(ConfirmDebit, payer.id, OLD, 100),
            leg(ConfirmCredit, payee.id, confirmed_in, 40),
        ],
    )

    recent = await shard_integrity(shard.uow, shard.context, recent_from=RECENT_FROM)
    assert recent.consistent, recent.problems
    listed = {(item.transfer_id, item.leg, item.amount) for item in recent.clearing_legs}
    # The old saga's id is before the cut (its leg is in the coordinator's sums); the open
    # hold is not confirmed.
    assert listed == {(confirmed_out, Leg.DEBIT, 300), (confirmed_in, Leg.CREDIT, 40)}
    assert recent.currencies["USD"].clearing == 300 + 100 - 40

    named = await shard_integrity(
        shard.uow, shard.context, recent_from="trf_ffffffffffff", transfer_ids=[OLD, open_out]
    )
    assert [(item.transfer_id, item.leg) for item in named.clearing_legs] == [(OLD, Leg.DEBIT)]
    assert (await shard_integrity(shard.uow, shard.context)).clearing_legs == []
