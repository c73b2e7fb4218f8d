"""Routing from ids, role rules, and the header rules checked before any backend is called."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from gateway.domain.principal import Principal
from gateway.domain.requests import (
    check_amount_limit,
    check_time_range,
    wait_preference,
)
from gateway.domain.roles import owner_of_new_wallet, owner_to_list, require_role
from gateway.domain.routing import ShardRouter
from wallet_shared.contracts.errors import (
    Forbidden,
    IdempotencyKeyRequired,
    NotFound,
    ValidationFailed,
)
from wallet_shared.contracts.ids import bucket_of_user, new_transfer_id, new_wallet_id
from wallet_shared.contracts.routing import ShardMap
from wallet_shared.contracts.rules import checked_key

ALICE = Principal("alice", "user")
ADMIN = Principal("root", "admin")
AUDITOR = Principal("eve", "auditor")

router = ShardRouter(ShardMap.even(4))


def other_bucket_than(user_id: str) -> int:
    return (bucket_of_user(user_id) + 1) % 1024


def test_a_wallet_id_routes_to_the_shard_of_its_bucket() -> None:
    for bucket in (0, 255, 256, 700, 1023):
        assert router.shard_of_wallet(new_wallet_id(bucket)) == bucket * 4 // 1024


@pytest.mark.parametrize(
    "not_a_wallet",
    [
        "",
        "abc",
        new_transfer_id(),
        "txn_" + new_wallet_id(1)[4:],
        new_wallet_id(1).upper(),
        new_wallet_id(1) + "0",
        "wlt_fff" + "0" * 32,  # bucket 4095 does not exist
        "../internal/integrity",
    ],
)
def test_a_string_that_is_not_a_wallet_id_names_nothing(not_a_wallet: str) -> None:
    with pytest.raises(NotFound):
        router.shard_of_wallet(not_a_wallet)


def test_a_user_cannot_reach_a_wallet_of_another_bucket() -> None:
    own = new_wallet_id(bucket_of_user("alice"))
    foreign = new_wallet_id(other_bucket_than("alice"))
    assert router.shard_of_visible_wallet(own, ALICE) == router.shard_of_user("alice")
    with pytest.raises(NotFound):
        router.shard_of_visible_wallet(foreign, ALICE)
    assert router.shard_of_visible_wallet(foreign, ADMIN) == router.shard_of_wallet(foreign)
    assert router.shard_of_visible_wallet(foreign, AUDITOR) == router.shard_of_wallet(foreign)


def test_require_role() -> None:
    require_role(ADMIN, "admin", action="x")
    with pytest.raises(Forbidden, match="'user' may not freeze wallets"):
        require_role(ALICE, "admin", action="freeze wallets")


def test_who_owns_a_new_wallet() -> None:
    assert owner_of_new_wallet(ALICE, None) == "alice"
    assert owner_of_new_wallet(ALICE, "alice") == "alice"
    assert owner_of_new_wallet(ADMIN, "bob") == "bob"
    assert owner_of_new_wallet(ADMIN, None) == "root"
    with pytest.raises(Forbidden):
        owner_of_new_wallet(ALICE, "bob")
    with pytest.raises(Forbidden):
        owner_of_new_wallet(AUDITOR, None)


def test_whose_wallets_a_listing_covers() -> None:
    assert owner_to_list(ALICE, None) == "alice"
    assert owner_to_list(ALICE, "alice") == "alice"
    assert owner_to_list(ADMIN, None) is None
    assert owner_to_list(AUDITOR, "bob") == "bob"
    with pytest.raises(Forbidden):
        owner_to_list(ALICE, "bob")


@pytest.mark.parametrize("key", ["k", "a" * 255, "order-42/retry 1", "~!@#$%^&*()"])
def test_acceptable_idempotency_keys(key: str) -> None:
    assert checked_key(key) == key


def test_a_missing_idempotency_key_is_required() -> None:
    with pytest.raises(IdempotencyKeyRequired):
        checked_key(None)


@pytest.mark.parametrize("key", ["", "a" * 256, "tab\there", "new\nline", "ünïcode", "\x7f"])
def test_a_malformed_idempotency_key_is_a_validation_error(key: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        checked_key(key)
    assert caught.value.errors == [
        {"field": "Idempotency-Key", "message": "must be 1-255 printable ASCII characters"}
    ]


@pytest.mark.parametrize(
    ("prefer", "wait"),
    [
        (None, None),
        ("wait=5", 5),
        ("wait=0", 0),
        ("wait=30", 30),
        ("respond-async, wait=10", 10),
        ("WAIT = 7", 7),
        ('wait="3"', 3),
        ("return=minimal", None),
        ("wait=2; foo=bar", 2),
    ],
)
def test_prefer_wait_is_read(prefer: str | None, wait: int | None) -> None:
    assert wait_preference(prefer) == wait


@pytest.mark.parametrize("prefer", ["wait=31", "wait=-1", "wait=", "wait=1.5", "wait=abc", "wait"])
def test_a_bad_prefer_wait_is_a_validation_error(prefer: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        wait_preference(prefer)
    assert caught.value.errors is not None
    assert caught.value.errors[0]["field"] == "Prefer"


def test_the_configured_amount_limit() -> None:
    check_amount_limit(100, max_amount=100)
    with pytest.raises(ValidationFailed) as caught:
        check_amount_limit(101, max_amount=100)
    assert caught.value.errors == [{"field": "amount", "message": "must be at most 100"}]


def test_an_empty_time_range_is_refused() -> None:
    check_time_range(datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC))
    with pytest.raises(ValidationFailed):
        check_time_range(datetime(2025, 1, 2, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC))
