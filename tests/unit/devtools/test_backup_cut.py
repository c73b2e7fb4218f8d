"""Which cuts a restore can carry on from (`wallet backup` retakes any other)."""

from __future__ import annotations

import pytest
from wallet_devtools.ops.backup import BackupError, LegSeen, cut_problems, system_databases


def _leg(transfer_id: str, state: str, leg: str = "debit") -> LegSeen:
    return LegSeen("shard-0", transfer_id, leg, state)


def test_legs_of_sagas_the_coordinator_has_decided_or_is_trying_fit_the_cut() -> None:
    phases = {"trf_a": "trying", "trf_b": "confirming", "trf_c": "done", "trf_d": "cancelling"}
    legs = [
        _leg("trf_a", "active"),  # tried, reply not heard yet: re-driven after a restore
        _leg("trf_a", "refused", "credit"),
        _leg("trf_b", "confirmed"),  # the shard is ahead of the decision it was sent
        _leg("trf_c", "confirmed"),
        _leg("trf_d", "cancelled"),
    ]
    assert cut_problems(phases, legs) == []


def test_a_leg_decided_while_the_coordinators_snapshot_still_tries_is_refused() -> None:
    problems = cut_problems({"trf_a": "trying"}, [_leg("trf_a", "confirmed")])
    assert problems == [
        "shard-0: debit leg of trf_a confirmed while the coordinator's snapshot has not decided it"
    ]
    assert cut_problems({"trf_a": "trying"}, [_leg("trf_a", "cancelled", "credit")])


def test_a_leg_of_a_saga_newer_than_the_coordinators_snapshot_is_refused() -> None:
    [problem] = cut_problems({}, [_leg("trf_new", "active")])
    assert "newer than the coordinator's snapshot" in problem


def test_the_coordinator_is_snapshotted_first() -> None:
    databases = system_databases("postgresql://h/coord", ["postgresql://h/s0", "postgresql://h/s1"])
    assert [(d.label, d.name) for d in databases] == [
        ("coordinator", "coord"),
        ("shard-0", "s0"),
        ("shard-1", "s1"),
    ]
    with pytest.raises(BackupError):
        system_databases("postgresql://h/coord", [])


def test_passwords_go_to_the_tools_environment_not_their_command_line() -> None:
    from wallet_devtools.ops.backup import _without_password

    assert _without_password("postgresql://ops:s%40cret@db:5432/wallet") == (
        "postgresql://ops@db:5432/wallet",
        "s@cret",
    )
    assert _without_password("postgresql://postgres@127.0.0.1:5432/x") == (
        "postgresql://postgres@127.0.0.1:5432/x",
        None,
    )
