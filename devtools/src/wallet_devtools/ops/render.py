"""How the operator commands show their answers to a person (rich); `--json` skips all this.

Pure functions of an answer and a console, so tests render into a recording console.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from rich.console import Console
from rich.table import Table
from rich.text import Text
from wallet_shared.contracts.ledger_admin import LedgerVerification, WalletRebuild
from wallet_shared.contracts.schemas import DeadLetter, IntegrityReport

EXIT_OK: Final = 0
EXIT_INCONSISTENT: Final = 1
"""The books do not balance, the ledger differs from its snapshots, or a rebuild was refused."""
EXIT_USAGE: Final = 2
EXIT_API_ERROR: Final = 3
"""The gateway refused the request, or did not answer; or a database could not be read."""

_OK = Text("consistent", style="bold green")
_BAD = Text("INCONSISTENT", style="bold red")


def verdict(consistent: bool) -> Text:
    return _OK if consistent else _BAD


def render_integrity(console: Console, report: IntegrityReport) -> None:
    """Per-currency totals, then every shard's and the coordinator's problems."""
    console.print(
        Text.assemble(
            "Integrity: ",
            verdict(report.consistent),
            f"  ({report.checked_at:%Y-%m-%d %H:%M:%S} UTC)",
        )
    )
    money = Table(title="Per currency: wallets + in flight = external net")
    for column in ("currency", "wallets_total", "in_flight", "external_net", "difference"):
        money.add_column(column, justify="left" if column == "currency" else "right")
    for currency, line in report.currencies.items():
        style = "" if line.difference == 0 else "bold red"
        money.add_row(
            currency,
            str(line.wallets_total),
            str(line.in_flight),
            str(line.external_net),
            str(line.difference),
            style=style,
        )
    console.print(money)
    parts = [(shard.shard, shard.consistent, shard.problems) for shard in report.shards]
    parts.append(("coordinator", report.coordinator.consistent, report.coordinator.problems))
    for name, consistent, problems in parts:
        console.print(Text.assemble(f"  {name:<12} ", verdict(consistent)))
        for problem in problems:
            console.print(f"    - {problem}", style="red", markup=False)


def render_dead_letters(console: Console, letters: Sequence[DeadLetter]) -> None:
    """One line per dead letter, newest first."""
    if not letters:
        console.print("No dead letters.")
        return
    # One entry per letter, not a table: ids and origins must show whole on any terminal.
    console.print(f"Dead letters ({len(letters)}), newest first:", style="bold")
    for letter in letters:
        replayed = (
            f"replayed {letter.replayed_at:%Y-%m-%d %H:%M:%S}"
            if letter.replayed_at
            else "not replayed"
        )
        console.print(
            Text.assemble(
                (letter.id, "bold"),
                f"  {letter.created_at:%Y-%m-%d %H:%M:%S}  "
                f"{letter.topic}:{letter.partition}@{letter.offset}  tries {letter.attempts}  ",
                (replayed, "green" if letter.replayed_at else "yellow"),
            )
        )
        console.print(Text(f"    {_first_line(letter.error, 200)}", style="red"))


def render_dead_letter(console: Console, letter: DeadLetter) -> None:
    """Everything about one dead letter, its value last."""
    rows = [
        ("id", letter.id),
        ("service", letter.service),
        ("origin", f"{letter.topic} partition {letter.partition} offset {letter.offset}"),
        ("key", letter.key or ""),
        ("attempts", str(letter.attempts)),
        ("created_at", letter.created_at.isoformat()),
        ("replayed_at", letter.replayed_at.isoformat() if letter.replayed_at else "never"),
        ("error", letter.error),
    ]
    rows += [(f"header {name}", value) for name, value in sorted(letter.headers.items())]
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for name, value in rows:
        table.add_row(name, Text(value))
    console.print(table)
    console.print(Text(f"value ({letter.value_encoding}):", style="bold"))
    console.print(Text(letter.value or ""))


def render_verification(console: Console, report: LedgerVerification) -> None:
    """Per shard what was checked, then each difference."""
    console.print(
        Text.assemble(
            "Ledger verification: ",
            verdict(report.consistent),
            f"  ({report.checked_at:%Y-%m-%d %H:%M:%S} UTC)",
        )
    )
    table = Table()
    for column in ("shard", "wallets", "open holds", "open pending credits", "differences"):
        table.add_column(column, justify="left" if column == "shard" else "right")
    for shard in report.shards:
        more = "+" if shard.truncated else ""
        style = "" if shard.differences == 0 and not shard.truncated else "bold red"
        table.add_row(
            shard.shard,
            str(shard.wallets_checked),
            str(shard.open_holds),
            str(shard.open_pending_credits),
            f"{shard.differences}{more}",
            style=style,
        )
    console.print(table)
    console.print(f"Transfers in flight (an open leg on some shard): {report.open_transfers}")
    if report.differences:
        console.print("Differences:", style="bold red")
        for d in report.differences:
            transfer = f"  transfer {d.transfer_id}" if d.transfer_id else ""
            console.print(
                Text.assemble(
                    f"  {d.shard}  ",
                    (d.kind, "bold"),
                    f"  wallet {d.wallet_id}{transfer}  expected {d.expected}, has {d.actual}",
                )
            )
            console.print(Text(f"      {d.detail}"))


def render_rebuild(console: Console, outcomes: Sequence[WalletRebuild]) -> None:
    """The wallets a rebuild changed or refused, then the counts."""
    shown = [o for o in outcomes if o.outcome != "unchanged"]
    if shown:
        for o in shown:
            changes = [
                f"{name} {_change(before, after)}"
                for name, before, after in (
                    ("balance", o.balance_before, o.balance_after),
                    ("frozen", o.frozen_before, o.frozen_after),
                    ("incoming", o.incoming_before, o.incoming_after),
                )
                if before != after
            ]
            style = "yellow" if o.outcome == "refused" else "green"
            console.print(
                Text.assemble(
                    f"  {o.wallet_id}  ", (o.outcome, style), "  ", o.reason or ", ".join(changes)
                )
            )
    counts = {kind: sum(1 for o in outcomes if o.outcome == kind) for kind in _OUTCOMES}
    console.print(
        f"{len(outcomes)} wallet(s): {counts['rebuilt']} rebuilt, {counts['unchanged']} "
        f"unchanged, {counts['refused']} refused (money in flight)"
    )


_OUTCOMES: Final = ("rebuilt", "unchanged", "refused")


def _change(before: int, after: int) -> str:
    return str(before) if before == after else f"{before} -> {after}"


def _first_line(text: str, width: int) -> str:
    line = text.splitlines()[0] if text else ""
    return line if len(line) <= width else line[: width - 1] + "…"
