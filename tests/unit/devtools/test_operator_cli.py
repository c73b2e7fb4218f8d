"""The operator commands of `wallet` against a fake gateway: what they print, and their exit
codes (0 fine, 1 inconsistent or refused, 2 wrong usage, 3 the gateway refused or is away)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest
from wallet_devtools import cli
from wallet_devtools.ops import admin_commands
from wallet_devtools.ops.admin_client import AdminClient

Handler = Callable[[httpx.Request], httpx.Response]
ADMIN = ["--gateway-url", "http://gateway.example:8000", "--token", "t0ken"]


def _integrity(consistent: bool) -> dict[str, Any]:
    return {
        "consistent": consistent,
        "checked_at": "2026-12-02T10:00:00Z",
        "currencies": {
            "USD": {
                "wallets_total": "1000",
                "in_flight": "0",
                "external_net": "1000" if consistent else "1700",
                "difference": "0" if consistent else "700",
            }
        },
        "shards": [
            {"shard": "shard-0", "consistent": consistent, "problems": []},
            {
                "shard": "shard-1",
                "consistent": True,
                "problems": []
                if consistent
                else ["wallet wlt_x: balance 700 but its entries sum to 0"],
            },
        ],
        "coordinator": {"consistent": True, "problems": []},
    }


def _letter(number: int, *, replayed: bool = False) -> dict[str, Any]:
    return {
        "id": f"dl_shard-0_{number}",
        "service": "wallet-shard-0",
        "topic": "wallet.shard-0.commands",
        "partition": 1,
        "offset": 40 + number,
        "key": "wlt_abc",
        "error": "ValueError: not a command\nTraceback...",
        "attempts": 5,
        "headers": {"message_type": "TryDebit"},
        "value": '{"oops": true}',
        "value_encoding": "utf-8",
        "created_at": "2026-12-02T10:00:00Z",
        "replayed_at": "2026-12-02T10:05:00Z" if replayed else None,
    }


def _rebuild(wallet: str, outcome: str, before: int, after: int) -> dict[str, Any]:
    return {
        "wallet_id": wallet,
        "outcome": outcome,
        "reason": "money in flight: 1 open hold(s), 0 open pending credit(s)"
        if outcome == "refused"
        else None,
        "balance_before": str(before),
        "balance_after": str(after),
        "frozen_before": "0",
        "frozen_after": "0",
        "incoming_before": "0",
        "incoming_after": "0",
    }


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lines as a wide terminal shows them: the assertions do not depend on the runner's width."""
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch) -> list[Handler]:
    """The commands' HTTP goes to the handler a test puts in the list."""
    handlers: list[Handler] = []

    def client(gateway_url: str, token: str, **_: Any) -> AdminClient:
        transport = httpx.MockTransport(lambda request: handlers[0](request))
        return AdminClient(gateway_url, token, transport=transport)

    monkeypatch.setattr(admin_commands, "AdminClient", client)
    return handlers


def _problem(status: int, code: str, detail: str) -> httpx.Response:
    body = {"type": "about:blank", "title": code, "status": status, "code": code, "detail": detail}
    return httpx.Response(status, json=body, headers={"content-type": "application/problem+json"})


def test_integrity_consistent_exits_0_and_says_so(
    gateway: list[Handler], capsys: pytest.CaptureFixture[str]
) -> None:
    gateway.append(lambda request: httpx.Response(200, json=_integrity(True)))
    assert cli.main(["integrity", *ADMIN]) == 0
    out = capsys.readouterr().out
    assert "Integrity: consistent" in out
    assert "USD" in out


def test_integrity_inconsistent_exits_1_and_lists_the_problems(
    gateway: list[Handler], capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=_integrity(False))

    gateway.append(answer)
    assert cli.main(["integrity", *ADMIN]) == 1
    out = capsys.readouterr().out
    assert "INCONSISTENT" in out
    assert "wallet wlt_x: balance 700 but its entries sum to 0" in out
    assert str(seen[0].url) == "http://gateway.example:8000/v1/admin/integrity"
    assert seen[0].headers["authorization"] == "Bearer t0ken"


def test_json_output_is_the_answer_alone(
    gateway: list[Handler], capsys: pytest.CaptureFixture[str]
) -> None:
    gateway.append(lambda request: httpx.Response(200, json=_integrity(False)))
    assert cli.main(["integrity", "--json", *ADMIN]) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["currencies"]["USD"]["difference"] == "700"


def test_a_refusal_exits_3_with_the_gateways_words(
    gateway: list[Handler], capsys: pytest.CaptureFixture[str]
) -> None:
    gateway.append(lambda request: _problem(403, "forbidden", "The role 'user' may not do this."))
    assert cli.main(["ledger", "verify", *ADMIN]) == 3
    assert "403 forbidden: The role 'user' may not do this." in capsys.readouterr().err


def test_a_gateway_that_does_not_answer_exits_3(
    gateway: list[Handler], capsys: pytest.CaptureFixture[str]
) -> None:
    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    gateway.append(unreachable)
    assert cli.main(["dead-letters", "list", *ADMIN]) == 3
    assert "did not answer" in capsys.readouterr().err


def test_no_token_is_refused_before_anything_is_sent(
    gateway: list[Handler], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WALLET_TOKEN", raising=False)
    monkeypatch.delenv("WALLET_ADMIN_TOKEN", raising=False)
    assert cli.main(["integrity", "--gateway-url", "http://gateway.example:8000"]) == 3
    assert "a token is needed" in capsys.readouterr().err


def test_the_token_may_come_from_the_environment(
    gateway: list[Handler], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WALLET_ADMIN_TOKEN", "from-env")
    monkeypatch.delenv("WALLET_TOKEN", raising=False)
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        return httpx.Response(200, json=_integrity(True))

    gateway.append(answer)
    assert cli.main(["integrity", "--gateway-url", "http://gateway.example:8000"]) == 0
    assert seen == ["Bearer from-env"]


def test_dead_letters_are_listed_page_by_page_and_shown_whole(
    gateway: list[Handler], capsys: pytest.CaptureFixture[str]
) -> None:
    pages = {
        None: {"items": [_letter(2)], "next_cursor": "c1"},
        "c1": {"items": [_letter(1, replayed=True)], "next_cursor": None},
    }
    gateway.append(
        lambda request: httpx.Response(200, json=pages[request.url.params.get("cursor")])
    )
    assert cli.main(["dead-letters", "list", "--all", "--json", *ADMIN]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [item["id"] for item in listed["items"]] == ["dl_shard-0_2", "dl_shard-0_1"]

    assert cli.main(["dead-letters", "show", "dl_shard-0_1", *ADMIN]) == 0
    shown = capsys.readouterr().out
    assert "ValueError: not a command" in shown
    assert '{"oops": true}' in shown
    assert "header message_type" in shown

    assert cli.main(["dead-letters", "show", "dl_shard-0_9", *ADMIN]) == 3
    assert "no dead letter dl_shard-0_9" in capsys.readouterr().err


def test_a_second_replay_is_refused_with_exit_3(
    gateway: list[Handler], capsys: pytest.CaptureFixture[str]
) -> None:
    replays: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        replays.append(request.url.path)
        if len(replays) > 1:
            return _problem(409, "conflict", "This dead letter was replayed already.")
        return httpx.Response(200, json=_letter(3, replayed=True))

    gateway.append(answer)
    assert cli.main(["dead-letters", "replay", "dl_shard-0_3", *ADMIN]) == 0
    assert "Replayed dl_shard-0_3 to wallet.shard-0.commands" in capsys.readouterr().out
    assert cli.main(["dead-letters", "replay", "dl_shard-0_3", *ADMIN]) == 3
    assert "409 conflict" in capsys.readouterr().err
    assert replays == ["/v1/admin/dead-letters/dl_shard-0_3/replay"] * 2


def test_rebuild_needs_one_wallet_or_all(gateway: list[Handler]) -> None:
    assert cli.main(["ledger", "rebuild", *ADMIN]) == 2
    assert cli.main(["ledger", "rebuild", "--all", "--wallet", "wlt_x", *ADMIN]) == 2


def test_rebuild_all_walks_every_shard_page_by_page_and_exits_1_when_one_is_refused(
    gateway: list[Handler], capsys: pytest.CaptureFixture[str]
) -> None:
    asked: list[dict[str, Any]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        asked.append(body)
        shard, after = body["shard"], body["after"]
        if shard == 2:
            return _problem(404, "not_found", "No such shard.")
        if shard == 0 and after is None:
            items = [_rebuild("wlt_a", "unchanged", 5, 5), _rebuild("wlt_b", "rebuilt", 9, 2)]
            return httpx.Response(
                200,
                json={
                    "shard": "shard-0",
                    "items": items,
                    "next_cursor": "wlt_b",
                    "wallets_total": 3,
                },
            )
        items = [
            _rebuild("wlt_c" if shard == 0 else "wlt_d", "refused" if shard else "unchanged", 1, 1)
        ]
        return httpx.Response(
            200,
            json={
                "shard": f"shard-{shard}",
                "items": items,
                "next_cursor": None,
                "wallets_total": 1 + 2 * (1 - shard),
            },
        )

    gateway.append(answer)
    assert cli.main(["ledger", "rebuild", "--all", "--page-size", "2", *ADMIN]) == 1
    out = capsys.readouterr().out
    assert "4 wallet(s): 1 rebuilt, 2 unchanged, 1 refused" in out
    assert "9 -> 2" in out
    assert [(a["shard"], a["after"]) for a in asked] == [
        (0, None),
        (0, "wlt_b"),
        (1, None),
        (2, None),
    ]


def test_every_command_answers_help(capsys: pytest.CaptureFixture[str]) -> None:
    commands = [
        [],
        ["run"],
        ["token"],
        ["integrity"],
        ["dead-letters"],
        ["dead-letters", "list"],
        ["dead-letters", "show"],
        ["dead-letters", "replay"],
        ["ledger"],
        ["ledger", "verify"],
        ["ledger", "rebuild"],
        ["backup"],
        ["restore"],
        ["bench"],
    ]
    for command in commands:
        assert cli.main([*command, "--help"]) == 0, command
        assert "Usage" in capsys.readouterr().out or command == ["bench"]


def test_token_prints_a_jwt_of_the_role_asked(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["token", "--sub", "ops", "--role", "auditor", "--secret", "s" * 32]) == 0
    claims = jwt.decode(capsys.readouterr().out.strip(), "s" * 32, algorithms=["HS256"])
    assert (claims["sub"], claims["role"]) == ("ops", "auditor")
    assert cli.main(["token", "--sub", "ops", "--role", "root"]) == 2


def test_verify_lists_every_difference_with_whole_ids_and_exits_1(
    gateway: list[Handler], capsys: pytest.CaptureFixture[str]
) -> None:
    wallet = "wlt_01901a2365fc3888ecace881288719b87e2"
    report = {
        "consistent": False,
        "checked_at": "2026-12-02T10:00:00Z",
        "shards": [
            {
                "shard": "shard-0",
                "wallets_checked": 5,
                "open_holds": 1,
                "open_pending_credits": 0,
                "differences": 2,
                "truncated": False,
            }
        ],
        "open_transfers": 1,
        "differences": [
            {
                "shard": "shard-0",
                "kind": "balance",
                "wallet_id": wallet,
                "transfer_id": None,
                "expected": "9967",
                "actual": "10667",
                "detail": "balance is 10667 but its journal entries sum to 9967",
            },
            {
                "shard": "shard-0",
                "kind": "hold",
                "wallet_id": wallet,
                "transfer_id": "trf_0123456789abcdef0123456789abcdef",
                "expected": "0",
                "actual": "700",
                "detail": "hold still open, but transfer trf_0123456789abcdef0123456789abcdef is completed",
            },
        ],
    }
    gateway.append(lambda request: httpx.Response(200, json=report))
    assert cli.main(["ledger", "verify", *ADMIN]) == 1
    out = capsys.readouterr().out
    assert "Ledger verification: INCONSISTENT" in out
    assert f"wallet {wallet}  expected 9967, has 10667" in out
    assert "transfer trf_0123456789abcdef0123456789abcdef  expected 0, has 700" in out


def test_dead_letters_list_for_a_person_shows_ids_origins_and_errors(
    gateway: list[Handler], capsys: pytest.CaptureFixture[str]
) -> None:
    page = {"items": [_letter(2), _letter(1, replayed=True)], "next_cursor": "c1"}
    gateway.append(lambda request: httpx.Response(200, json=page))
    assert cli.main(["dead-letters", "list", *ADMIN]) == 0
    out = capsys.readouterr().out
    assert "dl_shard-0_2  2026-12-02 10:00:00  wallet.shard-0.commands:1@42  tries 5" in out
    assert "replayed 2026-12-02 10:05:00" in out
    assert "ValueError: not a command" in out
    assert "More: --cursor c1" in out
