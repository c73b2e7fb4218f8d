"""`wallet integrity`, `wallet dead-letters list|show|replay`, `wallet ledger verify|rebuild`:
the gateway's admin API for a person at a terminal (rich) or a script (`--json`).

Exit codes: 0 fine; 1 inconsistent (the integrity report, differences in the ledger, a rebuild
refused for money in flight); 2 wrong usage; 3 the gateway refused or did not answer.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from wallet_shared.contracts.ledger_admin import LedgerVerification, RebuildPage, WalletRebuild
from wallet_shared.contracts.schemas import DeadLetter, DeadLetterPage, IntegrityReport

from wallet_devtools.ops.admin_client import DEFAULT_GATEWAY_URL, AdminApiError, AdminClient
from wallet_devtools.ops.render import (
    EXIT_API_ERROR,
    EXIT_INCONSISTENT,
    EXIT_OK,
    render_dead_letter,
    render_dead_letters,
    render_integrity,
    render_rebuild,
    render_verification,
)

GatewayUrl = Annotated[
    str,
    typer.Option(
        "--gateway-url", envvar="WALLET_GATEWAY_URL", help="The gateway's base URL (any host)."
    ),
]
Token = Annotated[
    str,
    typer.Option(
        "--token",
        envvar=["WALLET_TOKEN", "WALLET_ADMIN_TOKEN"],
        help="Bearer token of an admin (or auditor, for reads).",
        show_default=False,
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the answer as JSON, for scripts.")]
DeadLetterId = Annotated[str, typer.Argument(help="The id, as `list` shows it.")]

# The reports whose `consistent` decides the exit code.
Report = TypeVar("Report", IntegrityReport, LedgerVerification)

dead_letters_app = typer.Typer(
    help="Messages a consumer gave up on, on every shard and the coordinator.",
    no_args_is_help=True,
)
ledger_app = typer.Typer(
    help="Balance snapshots against the ledger: verify (read-only), rebuild.",
    no_args_is_help=True,
)


def integrity(
    gateway_url: GatewayUrl = DEFAULT_GATEWAY_URL, token: Token = "", as_json: AsJson = False
) -> None:
    """The integrity report; exit 1 when the books do not balance.

    Per currency, wallets plus money in flight must equal what came in minus what went out;
    then each shard's and the coordinator's problems.
    """

    _run(
        gateway_url,
        token,
        _checked(
            "/v1/admin/integrity",
            IntegrityReport,
            render_integrity,
            as_json=as_json,
            status="Checking integrity on every shard...",
        ),
    )


@dead_letters_app.command("list")
def list_dead_letters(
    gateway_url: GatewayUrl = DEFAULT_GATEWAY_URL,
    token: Token = "",
    as_json: AsJson = False,
    limit: Annotated[int, typer.Option(min=1, max=200, help="Page size.")] = 50,
    cursor: Annotated[str | None, typer.Option(help="Start after this page position.")] = None,
    every: Annotated[bool, typer.Option("--all", help="Every page, not only the first.")] = False,
) -> None:
    """Dead letters, newest first: id, origin, attempts, error, whether replayed."""

    async def work(client: AdminClient) -> int:
        letters, next_cursor = await _list_dead_letters(client, limit, cursor, every=every)
        document = {
            "items": [letter.model_dump(mode="json") for letter in letters],
            "next_cursor": next_cursor,
        }

        def human(console: Console) -> None:
            render_dead_letters(console, letters)
            if next_cursor:
                console.print(f"More: --cursor {next_cursor}  (or --all)")

        _show(as_json, document, human)
        return EXIT_OK

    _run(gateway_url, token, work)


@dead_letters_app.command("show")
def show_dead_letter(
    dead_letter_id: DeadLetterId,
    gateway_url: GatewayUrl = DEFAULT_GATEWAY_URL,
    token: Token = "",
    as_json: AsJson = False,
) -> None:
    """One dead letter whole: headers, error, original value."""

    async def work(client: AdminClient) -> int:
        letter = await _find_dead_letter(client, dead_letter_id)
        if letter is None:
            raise AdminApiError(f"no dead letter {dead_letter_id}", status=404, code="not_found")
        _show(as_json, letter.model_dump(mode="json"), lambda c: render_dead_letter(c, letter))
        return EXIT_OK

    _run(gateway_url, token, work)


@dead_letters_app.command("replay")
def replay_dead_letter(
    dead_letter_id: DeadLetterId,
    gateway_url: GatewayUrl = DEFAULT_GATEWAY_URL,
    token: Token = "",
    as_json: AsJson = False,
) -> None:
    """Publish a dead letter again to its topic, once (a second replay is refused, 409)."""

    async def work(client: AdminClient) -> int:
        path = f"/v1/admin/dead-letters/{dead_letter_id}/replay"
        letter = DeadLetter.model_validate(await client.post(path))

        def human(console: Console) -> None:
            console.print(f"Replayed {letter.id} to {letter.topic} at {letter.replayed_at}.")

        _show(as_json, letter.model_dump(mode="json"), human)
        return EXIT_OK

    _run(gateway_url, token, work)


@ledger_app.command("verify")
def verify_ledger(
    gateway_url: GatewayUrl = DEFAULT_GATEWAY_URL, token: Token = "", as_json: AsJson = False
) -> None:
    """Recompute every balance from the ledger; exit 1 on any difference.

    On every shard, every balance from the journal entries and every frozen amount from the
    active holds; every open hold and pending credit against its saga. Read-only, safe on a
    live system (each shard is read in one REPEATABLE READ snapshot).
    """

    _run(
        gateway_url,
        token,
        _checked(
            "/v1/admin/ledger/verify",
            LedgerVerification,
            render_verification,
            as_json=as_json,
            status="Recomputing every wallet from the ledger, shard by shard...",
        ),
    )


@ledger_app.command("rebuild")
def rebuild_ledger(
    wallet: Annotated[str | None, typer.Option("--wallet", help="One wallet's id.")] = None,
    every: Annotated[bool, typer.Option("--all", help="Every wallet of every shard.")] = False,
    page_size: Annotated[int, typer.Option(min=1, max=500, help="Wallets per request.")] = 200,
    gateway_url: GatewayUrl = DEFAULT_GATEWAY_URL,
    token: Token = "",
    as_json: AsJson = False,
) -> None:
    """Rebuild balance snapshots from the ledger; exit 1 if a wallet was refused.

    Wallet by wallet, each under its row lock; a wallet with money in flight (an open hold or
    pending credit) is refused. Reports what changed.
    """
    if (wallet is None) == (not every):
        raise typer.BadParameter("give --wallet ID or --all (one of them)")

    async def work(client: AdminClient) -> int:
        if wallet is not None:
            page = RebuildPage.model_validate(
                await client.post("/v1/admin/ledger/rebuild", {"wallet_id": wallet})
            )
            outcomes = page.items
        else:
            outcomes = await _rebuild_every_shard(client, page_size)
        document = {"items": [o.model_dump(mode="json") for o in outcomes]}
        _show(as_json, document, lambda c: render_rebuild(c, outcomes))
        refused = any(o.outcome == "refused" for o in outcomes)
        return EXIT_INCONSISTENT if refused else EXIT_OK

    _run(gateway_url, token, work)


async def _rebuild_every_shard(client: AdminClient, page_size: int) -> list[WalletRebuild]:
    outcomes: list[WalletRebuild] = []
    with _progress() as progress:
        shard = 0
        while True:
            try:
                page = await _rebuild_page(client, shard, None, page_size)
            except AdminApiError as error:
                if error.status == 404 and shard > 0:  # past the last shard
                    break
                raise
            task = progress.add_task(f"rebuild {page.shard}", total=page.wallets_total)
            outcomes += page.items
            progress.advance(task, len(page.items))
            while page.next_cursor is not None:
                page = await _rebuild_page(client, shard, page.next_cursor, page_size)
                outcomes += page.items
                progress.advance(task, len(page.items))
            progress.update(task, total=progress.tasks[task].completed)
            shard += 1
    return outcomes


async def _rebuild_page(
    client: AdminClient, shard: int, after: str | None, limit: int
) -> RebuildPage:
    body = {"shard": shard, "after": after, "limit": limit}
    return RebuildPage.model_validate(await client.post("/v1/admin/ledger/rebuild", body))


async def _list_dead_letters(
    client: AdminClient, limit: int, cursor: str | None, *, every: bool
) -> tuple[list[DeadLetter], str | None]:
    letters: list[DeadLetter] = []
    async for page in _dead_letter_pages(client, limit=limit, cursor=cursor):
        letters += page.items
        cursor = page.next_cursor
        if not every:
            break
    return letters, cursor


async def _find_dead_letter(client: AdminClient, dead_letter_id: str) -> DeadLetter | None:
    # The admin API lists dead letters (there are few: each is an incident); no route reads one.
    async for page in _dead_letter_pages(client, limit=200, cursor=None):
        for letter in page.items:
            if letter.id == dead_letter_id:
                return letter
    return None


async def _dead_letter_pages(
    client: AdminClient, *, limit: int, cursor: str | None
) -> AsyncIterator[DeadLetterPage]:
    """The pages of dead letters after `cursor` (from the newest when None), up to the last."""
    while True:
        params: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        page = DeadLetterPage.model_validate(await client.get("/v1/admin/dead-letters", params))
        yield page
        cursor = page.next_cursor
        if cursor is None:
            return


def _checked(
    path: str,
    report_type: type[Report],
    render: Callable[[Console, Report], None],
    *,
    as_json: bool,
    status: str,
) -> Callable[[AdminClient], Awaitable[int]]:
    """The work of a check: read the report at `path` while showing `status`, show it, and
    exit 1 unless it is consistent."""

    async def work(client: AdminClient) -> int:
        with _status(status):
            report = report_type.model_validate(await client.get(path))
        _show(as_json, report.model_dump(mode="json"), lambda console: render(console, report))
        return EXIT_OK if report.consistent else EXIT_INCONSISTENT

    return work


def _run(gateway_url: str, token: str, work: Callable[[AdminClient], Awaitable[int]]) -> None:
    """Run `work` with a client; its exit code, or 3 with the gateway's refusal on stderr."""

    async def main() -> int:
        async with AdminClient(gateway_url, token) as client:
            return await work(client)

    try:
        code = asyncio.run(main())
    except AdminApiError as error:
        Console(stderr=True).print(f"wallet: {error}", style="red", markup=False)
        code = EXIT_API_ERROR
    raise typer.Exit(code)


def _show(as_json: bool, document: Any, human: Callable[[Console], None]) -> None:
    if as_json:
        sys.stdout.write(json.dumps(document, indent=2, sort_keys=True) + "\n")
    else:
        human(Console())


def _status(message: str) -> Any:
    # On stderr: stdout stays the answer alone (`--json` pipes cleanly).
    return Console(stderr=True).status(message)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    )
