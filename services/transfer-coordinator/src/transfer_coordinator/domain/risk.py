"""Risk rules: pure functions over a wallet's recent activity that flag a movement for review.

A flag never blocks money: the rules run on the public event topic, after the fact. Each rule
looks at the movement being judged and the wallet's earlier movements (newest first) and answers
a finding or None.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median
from typing import Any, Literal

MovementKind = Literal["out", "deposit"]


@dataclass(frozen=True, slots=True)
class Movement:
    """Money leaving a wallet (withdrawal, purchase, completed transfer) or a deposit into it
    (a wallet holds one currency, so amounts of one wallet compare)."""

    wallet_id: str
    kind: MovementKind
    amount: int
    at: datetime
    transaction_id: str | None = None
    transfer_id: str | None = None
    destination: str | None = None
    """The wallet a transfer went to (None for anything but a transfer)."""


@dataclass(frozen=True, slots=True)
class RiskThresholds:
    """What each rule tolerates (settings `WALLET_RISK_*`)."""

    velocity_count: int = 20
    velocity_window: timedelta = timedelta(minutes=5)
    amount_multiple: int = 50
    amount_min_history: int = 5
    median_history: int = 50
    destinations_count: int = 10
    destinations_window: timedelta = timedelta(minutes=10)
    deposit_transfer_window: timedelta = timedelta(minutes=10)

    @property
    def history_size(self) -> int:
        """How many earlier movements of a wallet the rules may need."""
        return max(self.velocity_count, self.destinations_count, self.median_history) + 1


@dataclass(frozen=True, slots=True)
class Finding:
    """A rule's reason to flag a movement."""

    rule: str
    detail: dict[str, Any]


Rule = Callable[[Movement, Sequence[Movement], RiskThresholds], Finding | None]


def _outgoing(history: Sequence[Movement]) -> list[Movement]:
    return [m for m in history if m.kind == "out"]


def _within(history: Sequence[Movement], since: datetime) -> list[Movement]:
    return [m for m in history if m.at >= since]


def velocity(movement: Movement, history: Sequence[Movement], t: RiskThresholds) -> Finding | None:
    """More than `velocity_count` outgoing movements within `velocity_window`."""
    recent = _within([m for m in history if m.kind == "out"], movement.at - t.velocity_window)
    count = len(recent) + 1
    if count <= t.velocity_count:
        return None
    window_s = int(t.velocity_window.total_seconds())
    return Finding("velocity", {"count": count, "window_s": window_s, "limit": t.velocity_count})


def amount_outlier(
    movement: Movement, history: Sequence[Movement], t: RiskThresholds
) -> Finding | None:
    """An outgoing amount above `amount_multiple` times the median of the wallet's earlier ones
    (judged only once there are `amount_min_history` of them)."""
    earlier = [m.amount for m in _outgoing(history)][: t.median_history]
    if len(earlier) < t.amount_min_history:
        return None
    usual = median(earlier)
    if movement.amount <= t.amount_multiple * usual:
        return None
    return Finding(
        "amount_outlier",
        {"amount": str(movement.amount), "median": str(int(usual)), "multiple": t.amount_multiple},
    )


def many_destinations(
    movement: Movement, history: Sequence[Movement], t: RiskThresholds
) -> Finding | None:
    """Transfers to more than `destinations_count` distinct wallets within
    `destinations_window`."""
    if movement.destination is None:
        return None
    recent = _within(history, movement.at - t.destinations_window)
    destinations = {m.destination for m in recent if m.destination is not None}
    destinations.add(movement.destination)
    if len(destinations) <= t.destinations_count:
        return None
    window_s = int(t.destinations_window.total_seconds())
    return Finding(
        "many_destinations",
        {"destinations": len(destinations), "window_s": window_s, "limit": t.destinations_count},
    )


def deposit_then_transfer(
    movement: Movement, history: Sequence[Movement], t: RiskThresholds
) -> Finding | None:
    """A transfer of exactly the amount of a deposit made just before (money passing through)."""
    if movement.transfer_id is None:
        return None
    for earlier in _within(history, movement.at - t.deposit_transfer_window):
        if earlier.kind == "deposit" and earlier.amount == movement.amount:
            return Finding(
                "deposit_then_transfer",
                {"amount": str(movement.amount), "deposit_transaction_id": earlier.transaction_id},
            )
    return None


RULES: tuple[Rule, ...] = (velocity, amount_outlier, many_destinations, deposit_then_transfer)


def judge(
    movement: Movement, history: Sequence[Movement], thresholds: RiskThresholds
) -> list[Finding]:
    """Every rule's finding about an outgoing movement (deposits are only remembered)."""
    if movement.kind != "out":
        return []
    findings = (rule(movement, history, thresholds) for rule in RULES)
    return [finding for finding in findings if finding is not None]
