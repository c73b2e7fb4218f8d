"""TCC participant: a batch of transfer commands handled in ONE DB transaction.

Everything the batch names is loaded and locked first (wallets in id order, then legs), the
commands are applied in order in memory (`LegBook`), and what changed is written back with one
statement (a set-based write per table, `write_together`), whatever the batch size. One reply
per command goes to the outbox; a redelivered command changes nothing and gets the same reply
again.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog
from wallet_shared.contracts.messages import (
    Leg,
    LegCommand,
    OutgoingMessage,
    encode_transfer_message,
    reply_to,
)
from wallet_shared.platform.metrics import LEDGER_POSTINGS
from wallet_shared.platform.writes import Write, write_together

from wallet_shard.domain.journal import JournalTransaction
from wallet_shard.domain.leg_book import LegBook, LegOutcome
from wallet_shard.service_layer.context import ShardContext
from wallet_shard.service_layer.unit_of_work import ShardRepositories, UnitOfWork
from wallet_shard.service_layer.views import transaction_posted

_log = structlog.get_logger(__name__)


async def handle_transfer_commands(
    uow: UnitOfWork, shard: ShardContext, commands: Sequence[LegCommand]
) -> None:
    """Apply a batch of TryX / ConfirmX / CancelX commands; all or nothing."""
    if not commands:
        return
    async with uow.transaction(fresh_plans=True) as repos:
        book = await load_leg_book(repos, shard, commands)
        outcomes = [book.apply(command) for command in commands]
        await write_together(
            repos.conn,
            [*leg_book_writes(repos, book), *repos.publishing(_messages(shard, outcomes))],
        )
    count_postings(shard, book.postings)
    _log.debug("transfer_commands_handled", commands=len(commands), postings=len(book.postings))


async def load_leg_book(
    repos: ShardRepositories,
    shard: ShardContext,
    commands: Sequence[LegCommand],
) -> LegBook:
    """The wallets (locked) and legs that `commands` name, in a book to apply them to."""
    # Wallets first, in id order, in every batch and every handler: no lock cycles. The legs are
    # read only once those locks are held (READ COMMITTED: each statement sees what committed
    # before it), so a command never acts on a leg state another batch is still changing.
    wallets = await repos.wallets.lock_many(sorted({c.wallet_id for c in commands}))
    legs = await repos.legs.find_many(
        {
            leg: sorted({c.transfer_id for c in commands if c.leg is leg})
            for leg in (Leg.DEBIT, Leg.CREDIT)
        }
    )
    return LegBook(
        wallets=wallets, legs=legs, at=shard.clock(), default_limits=shard.default_limits
    )


def leg_book_writes(repos: ShardRepositories, book: LegBook) -> list[Write]:
    """The writes that store what applying commands to `book` changed: legs, postings,
    balances; sent with the batch's other writes (its outbox), in one statement."""
    return [
        *repos.legs.saving([*book.changed_legs(Leg.DEBIT), *book.changed_legs(Leg.CREDIT)]),
        *repos.journal.adding(book.postings),
        *repos.wallets.saving_balances(book.changed_wallets()),
    ]


def _messages(shard: ShardContext, outcomes: Sequence[LegOutcome]) -> list[OutgoingMessage]:
    messages = []
    for outcome in outcomes:
        command = outcome.command
        if outcome.posting is not None:
            messages.append(
                transaction_posted(outcome.posting, topics=shard.topics, trace_id=command.trace_id)
            )
        reply = (
            reply_to(command)
            if outcome.answer is None
            else reply_to(command, ok=outcome.answer.ok, failure_code=outcome.answer.failure_code)
        )
        messages.append(
            encode_transfer_message(
                reply, topic=shard.topics.transfer_replies, key=command.transfer_id
            )
        )
    return messages


def count_postings(shard: ShardContext, postings: Sequence[JournalTransaction]) -> None:
    """The ledger postings metric, by type."""
    for posting in postings:
        LEDGER_POSTINGS.labels(shard.label, posting.type).inc()
