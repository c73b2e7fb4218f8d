"""The ledger over time through the gateway: `balance?at=`, statements as JSON and streamed CSV
(200,000 rows in constant memory), and history filters that work together."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg
from wallet_devtools import postgres
from wallet_devtools.cluster import WalletCluster

from tests.e2e.client import (
    Api,
    Gateway,
    Json,
    assert_problem,
    assert_validation_problem,
    expect,
    shard_of_wallet,
    user_on_shard,
)

CSV_HEADER = [
    "transaction_id",
    "created_at",
    "type",
    "amount",
    "change",
    "balance_after",
    "currency",
    "reference",
    "transfer_id",
]
EXPORT_ROWS = 200_000
MAX_RSS_GROWTH_BYTES = 25 * 1024 * 1024
FILLER = 200  # characters of reference per exported row: the export is ~65 MB


def _instant(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp)


def _iso(instant: datetime) -> str:
    return instant.isoformat()


async def _movements(api: Api, admin: Api, wallet_id: str) -> list[Json]:
    """Six transactions of every local kind, oldest first."""
    made = [await api.deposit(wallet_id, 5000)]
    body = {"amount": 700, "reference": 'inv, "7"\nline two'}
    made.append(expect(await api.post_money(f"/v1/wallets/{wallet_id}/deposits", body), 201))
    made.append(expect(await api.withdraw_raw(wallet_id, 1200), 201))
    purchase = {"amount": 900, "order_id": "ord-1"}
    made.append(expect(await api.post_money(f"/v1/wallets/{wallet_id}/purchases", purchase), 201))
    refund = {"purchase_id": made[-1]["id"], "amount": 400}
    made.append(expect(await admin.post_money(f"/v1/wallets/{wallet_id}/refunds", refund), 201))
    reversal = f"/v1/wallets/{wallet_id}/transactions/{made[2]['id']}/reversal"
    made.append(expect(await admin.post_money(reversal, {"reason": "duplicate"}), 201))
    return made


async def test_balance_at_statements_and_history_filters(gw: Gateway) -> None:
    alice, admin = gw.user(user_on_shard(0, "alice")), gw.admin()
    wid = (await alice.create_wallet("EUR"))["id"]
    made = await _movements(alice, admin, wid)
    balance_path = f"/v1/wallets/{wid}/balance"

    for transaction in made:
        at = expect(await alice.get(balance_path, {"at": transaction["created_at"]}), 200)
        assert at == {
            "wallet_id": wid,
            "balance": transaction["balance_after"],
            "at": at["at"],
        }
        assert _instant(at["at"]) == _instant(transaction["created_at"])
    before = _iso(_instant(made[0]["created_at"]) - timedelta(days=400))
    assert expect(await alice.get(balance_path, {"at": before}), 200)["balance"] == "0"
    later = _iso(_instant(made[-1]["created_at"]) + timedelta(days=1))
    assert expect(await gw.auditor().get(balance_path, {"at": later}), 200)["balance"] == "5200"
    assert_validation_problem(await alice.get(balance_path), "at")
    assert_validation_problem(await alice.get(balance_path, {"at": "yesterday"}), "at")
    assert_problem(await gw.user("mallory").get(balance_path, {"at": later}), 404, "not_found")

    statement_path = f"/v1/wallets/{wid}/statement"
    whole = expect(await alice.get(statement_path), 200)
    assert (whole["wallet_id"], whole["currency"], whole["since"]) == (wid, "EUR", None)
    assert (whole["opening_balance"], whole["closing_balance"]) == ("0", "5200")
    assert [item["id"] for item in whole["items"]] == [t["id"] for t in made]
    assert [item["change"] for item in whole["items"]] == [
        "5000",
        "700",
        "-1200",
        "-900",
        "400",
        "1200",
    ]
    assert whole["totals"] == {"count": 6, "money_in": "7300", "money_out": "2100", "net": "5200"}
    assert whole["items"][1]["reference"] == made[1]["reference"]

    period = {"since": made[2]["created_at"], "until": made[4]["created_at"]}
    part = expect(await alice.get(statement_path, period), 200)
    assert [item["id"] for item in part["items"]] == [made[2]["id"], made[3]["id"]]
    assert (part["opening_balance"], part["closing_balance"]) == ("5700", "3600")
    changes = sum(int(item["change"]) for item in part["items"])
    assert int(part["opening_balance"]) + changes == int(part["closing_balance"])
    reversed_period = {"since": period["until"], "until": period["since"]}
    assert_validation_problem(await alice.get(statement_path, reversed_period), "since")
    assert_problem(await gw.user("mallory").get(statement_path), 404, "not_found")

    exported = await alice.get(statement_path, headers={"Accept": "text/csv"})
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.text, newline="")))
    assert rows[0] == CSV_HEADER
    assert exported.text.endswith("\r\n")
    assert [row[0] for row in rows[1:]] == [t["id"] for t in made]
    assert rows[2][2:8] == ["deposit", "700", "700", "5700", "EUR", made[1]["reference"]]
    assert rows[6][2:5] == ["reversal", "1200", "1200"]

    history = f"/v1/wallets/{wid}/transactions"
    filtered = {"type": "deposit", "since": made[0]["created_at"], "until": made[5]["created_at"]}
    deposits = await alice.all_pages(history, {**filtered, "limit": 1})
    assert [t["id"] for t in deposits] == [made[1]["id"], made[0]["id"]]
    window = await alice.all_pages(history, {"since": made[1]["created_at"], "limit": 2})
    assert [t["id"] for t in window] == [t["id"] for t in reversed(made[1:])]


async def _insert_deposits(dsn: str, wallet_id: str, rows: int) -> None:
    """`rows` deposits of 1 straight into the shard's ledger (balanced, with their balances),
    as years of history would have left them."""
    bucket = wallet_id[4:7]
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            # Balanced by construction: the commit skips the ledger's per-row checks (shard
            # migration 012, tested in tests/integration/wallet_shard/test_ledger_invariants.py),
            # which would cost 600,000 probes here.
            await conn.execute("SET LOCAL session_replication_role = replica")
            await conn.execute(
                "INSERT INTO journal_transactions (id, wallet_id, type, amount, balance_after,"
                " reference, created_at)"
                " SELECT 'txn_' || $2 || lpad(to_hex(n), 32, '0'), $1, 'deposit', 1, n,"
                "        'bulk row ' || n || repeat('x', $4), now() - interval '1 day'"
                "        + n * interval '1 ms'"
                " FROM generate_series(1, $3) AS n",
                wallet_id,
                bucket,
                rows,
                FILLER,
            )
            await conn.execute(
                "INSERT INTO journal_entries (transaction_id, account, currency, amount,"
                " created_at)"
                " SELECT t.id, a.account, 'USD', a.amount, t.created_at"
                " FROM journal_transactions t,"
                "      (VALUES ($1, 1), ('system:cash_in:USD', -1)) AS a (account, amount)"
                " WHERE t.wallet_id = $1",
                wallet_id,
            )
            await conn.execute("UPDATE wallets SET balance = $2 WHERE id = $1", wallet_id, rows)
    finally:
        await conn.close()


def _rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for process {pid}")


async def test_a_200000_row_csv_statement_streams_in_constant_memory(
    gw: Gateway, cluster: WalletCluster
) -> None:
    alice = gw.user("alice")
    wid = (await alice.create_wallet("USD"))["id"]
    shard = shard_of_wallet(wid)
    dsn = postgres.database_dsn(cluster.admin_dsn, cluster.database_names.shards[shard])
    await _insert_deposits(dsn, wid, EXPORT_ROWS)
    path = f"/v1/wallets/{wid}/statement"
    csv_accept = {"Authorization": f"Bearer {alice.token}", "Accept": "text/csv"}
    now = _iso(datetime.now().astimezone())
    warm_up = await alice.get(path, {"since": now}, headers=csv_accept)  # both processes' paths
    assert warm_up.text == ",".join(CSV_HEADER) + "\r\n"
    services = ("gateway", f"shard-{shard}")
    pids = {name: int((cluster.log_dir / f"{name}.pid").read_text()) for name in services}
    baseline = {name: _rss_bytes(pid) for name, pid in pids.items()}
    peak = dict(baseline)
    rows = size = 0
    last_line = carry = b""
    async with alice.http.stream("GET", path, headers=csv_accept) as response:
        assert response.status_code == 200
        async for chunk in response.aiter_bytes():
            # A row's "\r\n" may be cut between two chunks: carry a trailing "\r" over.
            data = carry + chunk
            rows += data.count(b"\r\n")
            carry = b"\r" if data.endswith(b"\r") else b""
            size += len(chunk)
            last_line = (last_line + chunk)[-1000:]
            for name, pid in pids.items():
                peak[name] = max(peak[name], _rss_bytes(pid))
            await asyncio.sleep(0)
    assert rows == EXPORT_ROWS + 1  # and the header row
    assert last_line.split(b"\r\n")[-2].split(b",")[5] == str(EXPORT_ROWS).encode()
    assert size > 2 * MAX_RSS_GROWTH_BYTES  # holding the export would show
    for name in services:
        assert peak[name] - baseline[name] < MAX_RSS_GROWTH_BYTES, (name, baseline, peak, size)
