"""Spending limits: how much may leave a wallet per UTC day and per UTC month.

Outgoing money is withdrawals, purchases and the holds of outgoing transfers (counted at Try).
The counters live with the wallet and change under its row lock, in the DB transaction that moves
the money, so concurrent requests never overshoot. A cancelled hold gives back what it counted,
to the day and month it was placed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from wallet_shared.contracts.errors import LimitExceeded


@dataclass(frozen=True, slots=True)
class SpendingLimits:
    """A limit per UTC day and per UTC month; None: no limit (or, for a wallet's own setting,
    the configured default)."""

    daily: int | None = None
    monthly: int | None = None

    def over(self, defaults: SpendingLimits) -> SpendingLimits:
        """The limits in force: this wallet's own, and the defaults where it has none."""
        return SpendingLimits(
            daily=defaults.daily if self.daily is None else self.daily,
            monthly=defaults.monthly if self.monthly is None else self.monthly,
        )


def utc_day(at: datetime) -> date:
    return at.astimezone(UTC).date()


def utc_month(at: datetime) -> date:
    """The first day of the UTC month of `at`."""
    return utc_day(at).replace(day=1)


@dataclass(slots=True)
class Spending:
    """What a wallet spent in the UTC day and month it last spent in."""

    day: date | None = None
    today: int = 0
    month: date | None = None
    this_month: int = 0

    def used_today(self, at: datetime) -> int:
        return self.today if self.day == utc_day(at) else 0

    def used_this_month(self, at: datetime) -> int:
        return self.this_month if self.month == utc_month(at) else 0

    def check(self, amount: int, *, at: datetime, limits: SpendingLimits) -> None:
        """`LimitExceeded` when spending `amount` at `at` would pass a limit."""
        if limits.daily is not None and self.used_today(at) + amount > limits.daily:
            raise LimitExceeded(
                f"The wallet may send {limits.daily} per UTC day; "
                f"{self.used_today(at)} is used today."
            )
        if limits.monthly is not None and self.used_this_month(at) + amount > limits.monthly:
            raise LimitExceeded(
                f"The wallet may send {limits.monthly} per UTC month; "
                f"{self.used_this_month(at)} is used this month."
            )

    def record(self, amount: int, *, at: datetime) -> None:
        """Count `amount` as spent at `at` (call `check` first)."""
        today, this_month = self.used_today(at) + amount, self.used_this_month(at) + amount
        self.day, self.today = utc_day(at), today
        self.month, self.this_month = utc_month(at), this_month

    def give_back(self, amount: int, *, spent_at: datetime) -> None:
        """Undo the count of `amount` spent at `spent_at`: only the counters of that day and
        month change (a hold placed yesterday and cancelled today frees nothing of today)."""
        if self.day == utc_day(spent_at):
            self.today = max(0, self.today - amount)
        if self.month == utc_month(spent_at):
            self.this_month = max(0, self.this_month - amount)
