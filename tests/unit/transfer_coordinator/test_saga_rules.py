"""The transfer saga's rules, one by one, on the pure state machine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from transfer_coordinator.domain.saga import (
    DECLINED,
    TIMEOUT,
    Resolution,
    SagaPhase,
    TransferSaga,
    TransferStatus,
    Transition,
    TryResult,
)
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
    LegCommand,
    TryCredit,
    TryDebit,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)
TRF = "trf_0123456789abcdef0123456789abcdef"
SOURCE = "wlt_000" + "1" * 32
DESTINATION = "wlt_3ff" + "2" * 32


def begin(deadline_s: float = 30.0) -> Transition:
    return TransferSaga.begin(
        transfer_id=TRF,
        source_wallet_id=SOURCE,
        destination_wallet_id=DESTINATION,
        amount=1500,
        currency="USD",
        description="rent",
        initiator="alice",
        trace_id="trace-1",
        now=T0,
        deadline_at=T0 + timedelta(seconds=deadline_s),
    )


def kinds(commands: tuple[LegCommand, ...]) -> list[type[LegCommand]]:
    return [type(command) for command in commands]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def debit_tried(ok: bool = True, code: str | None = None) -> DebitTried:
    return DebitTried(transfer_id=TRF, wallet_id=SOURCE, ok=ok, failure_code=code)


def credit_tried(ok: bool = True, code: str | None = None) -> CreditTried:
    return CreditTried(transfer_id=TRF, wallet_id=DESTINATION, ok=ok, failure_code=code)


def confirmed_saga() -> TransferSaga:
    saga = begin().saga.on_reply(debit_tried(), at(1)).saga
    return saga.on_reply(credit_tried(), at(2)).saga


def test_begin_sends_try_to_both_legs_with_the_transfer_details() -> None:
    transition = begin()

    assert transition.saga.status is TransferStatus.PENDING
    assert transition.saga.phase is SagaPhase.TRYING
    assert kinds(transition.commands) == [TryDebit, TryCredit]
    debit, credit = transition.commands
    assert (debit.wallet_id, credit.wallet_id) == (SOURCE, DESTINATION)
    assert {(c.transfer_id, c.amount, c.currency, c.trace_id) for c in transition.commands} == {
        (TRF, 1500, "USD", "trace-1")
    }


def test_both_tries_ok_decide_confirm_on_both_legs() -> None:
    saga = begin().saga
    first = saga.on_reply(credit_tried(), at(1))
    second = first.saga.on_reply(debit_tried(), at(2))

    assert first.commands == ()
    assert first.saga.credit.tried is TryResult.OK
    assert second.saga.phase is SagaPhase.CONFIRMING
    assert second.saga.decided_at == at(2)
    assert kinds(second.commands) == [ConfirmDebit, ConfirmCredit]


def test_a_failed_try_cancels_both_legs_with_its_code() -> None:
    transition = begin().saga.on_reply(debit_tried(ok=False, code="insufficient_funds"), at(1))

    assert transition.saga.phase is SagaPhase.CANCELLING
    assert transition.saga.failure_code == "insufficient_funds"
    # The credit leg has not answered, and is cancelled all the same (tombstone).
    assert kinds(transition.commands) == [CancelDebit, CancelCredit]


def test_the_first_failure_code_wins() -> None:
    saga = begin().saga.on_reply(credit_tried(ok=False, code="wallet_not_active"), at(1)).saga
    later = saga.on_reply(debit_tried(ok=False, code="insufficient_funds"), at(2))

    assert later.saga is saga
    assert later.commands == ()
    assert saga.failure_code == "wallet_not_active"


def test_a_refusal_without_code_still_cancels() -> None:
    saga = begin().saga.on_reply(credit_tried(ok=False), at(1)).saga

    assert saga.failure_code == DECLINED


def test_a_try_ok_after_the_decision_to_cancel_changes_nothing() -> None:
    saga = begin().saga.on_reply(debit_tried(ok=False, code="insufficient_funds"), at(1)).saga
    late = saga.on_reply(credit_tried(), at(2))

    assert late.saga is saga
    assert late.commands == ()


def test_confirmed_on_both_legs_completes_the_transfer() -> None:
    saga = confirmed_saga()
    half = saga.on_reply(DebitConfirmed(transfer_id=TRF, wallet_id=SOURCE), at(3))
    done = half.saga.on_reply(CreditConfirmed(transfer_id=TRF, wallet_id=DESTINATION), at(4))

    assert half.saga.status is TransferStatus.PENDING
    assert half.saga.debit.resolved is Resolution.CONFIRMED
    assert done.saga.status is TransferStatus.COMPLETED
    assert done.saga.phase is SagaPhase.DONE
    assert done.commands == ()


def test_cancelled_on_both_legs_cancels_the_transfer() -> None:
    saga = begin().saga.on_reply(debit_tried(ok=False, code="currency_mismatch"), at(1)).saga
    saga = saga.on_reply(CreditCancelled(transfer_id=TRF, wallet_id=DESTINATION), at(2)).saga
    saga = saga.on_reply(DebitCancelled(transfer_id=TRF, wallet_id=SOURCE), at(3)).saga

    assert saga.status is TransferStatus.CANCELLED
    assert saga.failure_code == "currency_mismatch"


def test_deadline_while_trying_cancels_with_timeout() -> None:
    saga = begin(deadline_s=30).saga.on_reply(debit_tried(), at(1)).saga

    assert saga.expire(at(29.9)).saga is saga
    expired = saga.expire(at(30))
    assert expired.saga.phase is SagaPhase.CANCELLING
    assert expired.saga.failure_code == TIMEOUT
    assert kinds(expired.commands) == [CancelDebit, CancelCredit]


def test_a_try_ok_arriving_after_the_deadline_cannot_confirm() -> None:
    saga = begin(deadline_s=30).saga.on_reply(debit_tried(), at(1)).saga
    late = saga.on_reply(credit_tried(), at(31))

    assert late.saga.phase is SagaPhase.CANCELLING
    assert late.saga.failure_code == TIMEOUT
    assert kinds(late.commands) == [CancelDebit, CancelCredit]


def test_confirm_is_never_undone_by_the_deadline() -> None:
    saga = confirmed_saga()

    assert saga.expire(at(3600)).saga is saga
    # A refusal arriving late (a duplicate from a confused participant) is ignored as well.
    assert saga.on_reply(debit_tried(ok=False, code="x"), at(3600)).saga is saga


def test_replies_of_the_wrong_phase_are_ignored() -> None:
    trying = begin().saga
    assert trying.on_reply(DebitConfirmed(transfer_id=TRF, wallet_id=SOURCE), at(1)).saga is trying
    confirming = confirmed_saga()
    cancelled = DebitCancelled(transfer_id=TRF, wallet_id=SOURCE)
    assert confirming.on_reply(cancelled, at(3)).saga is confirming


def test_duplicate_replies_change_nothing() -> None:
    saga = begin().saga.on_reply(debit_tried(), at(1)).saga

    again = saga.on_reply(debit_tried(), at(2))

    assert again.saga is saga
    assert again.commands == ()


def test_redrive_resends_only_the_unanswered_legs_of_the_current_phase() -> None:
    trying = begin().saga.on_reply(debit_tried(), at(1)).saga
    assert kinds(trying.redrive(at(10)).commands) == [TryCredit]
    assert trying.redrive(at(10)).saga.updated_at == at(10)

    credit_done = CreditConfirmed(transfer_id=TRF, wallet_id=DESTINATION)
    confirming = confirmed_saga().on_reply(credit_done, at(3)).saga
    assert kinds(confirming.redrive(at(10)).commands) == [ConfirmDebit]

    cancelling = begin().saga.expire(at(31)).saga
    assert kinds(cancelling.redrive(at(40)).commands) == [CancelDebit, CancelCredit]


def test_redrive_of_a_final_saga_sends_nothing() -> None:
    saga = begin().saga.on_reply(debit_tried(ok=False, code="x"), at(1)).saga
    saga = saga.on_reply(DebitCancelled(transfer_id=TRF, wallet_id=SOURCE), at(2)).saga
    saga = saga.on_reply(CreditCancelled(transfer_id=TRF, wallet_id=DESTINATION), at(2)).saga

    assert saga.is_final
    assert saga.redrive(at(100)) == Transition(saga)
