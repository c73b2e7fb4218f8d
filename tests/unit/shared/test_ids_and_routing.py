"""Ids carry their owner's bucket; the bucket→shard map is total and routes every id."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from wallet_shared.contracts.ids import (
    BUCKET_COUNT,
    TRANSACTION_PREFIX,
    WALLET_PREFIX,
    bucket_of_id,
    bucket_of_user,
    is_transfer_id,
    is_valid_user_id,
    new_local_transfer_id,
    new_transaction_id,
    new_transfer_id,
    new_wallet_id,
)
from wallet_shared.contracts.routing import ShardMap, ShardMapError

user_ids = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)


@given(user_ids)
def test_a_wallet_id_routes_to_the_shard_of_its_owner(user_id: str) -> None:
    shards = ShardMap.even(3)
    wallet_id = new_wallet_id(bucket_of_user(user_id))
    assert shards.shard_for_wallet(wallet_id) == shards.shard_for_user(user_id)


@given(user_ids)
def test_a_transaction_id_routes_like_its_wallet(user_id: str) -> None:
    shards = ShardMap.even(2)
    bucket = bucket_of_user(user_id)
    assert shards.shard_for_transaction(new_transaction_id(bucket)) == shards.shard_for_user(
        user_id
    )


def test_ids_are_unique_and_time_ordered() -> None:
    ids = [new_wallet_id(7) for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    clocks = [i[7:19] for i in ids]
    assert clocks == sorted(clocks)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "wlt_",
        "wlt_zzz" + "0" * 32,
        "wlt_400" + "0" * 32,
        "WLT_001" + "0" * 32,
        "wlt_001" + "0" * 31,
        "txn_001" + "0" * 32,
        " wlt_001" + "0" * 32,
        "../etc/passwd",
    ],
)
def test_strings_that_are_not_wallet_ids_route_nowhere(text: str) -> None:
    assert bucket_of_id(text, prefix=WALLET_PREFIX) is None
    assert ShardMap.even(2).shard_for_wallet(text) is None


def test_a_transaction_id_is_not_a_wallet_id() -> None:
    transaction_id = new_transaction_id(5)
    assert bucket_of_id(transaction_id, prefix=TRANSACTION_PREFIX) == 5
    assert bucket_of_id(transaction_id, prefix=WALLET_PREFIX) is None


def test_transfer_ids() -> None:
    assert is_transfer_id(new_transfer_id())
    assert not is_transfer_id("trf_123")
    assert not is_transfer_id(new_wallet_id(1))


def test_user_ids() -> None:
    assert is_valid_user_id("alice_01-x")
    assert not is_valid_user_id("")
    assert not is_valid_user_id("a" * 65)
    assert not is_valid_user_id("al ice")


def test_buckets_spread_over_the_whole_range() -> None:
    buckets = {bucket_of_user(f"user-{n}") for n in range(20_000)}
    assert len(buckets) == BUCKET_COUNT


def test_even_map_is_contiguous_and_balanced() -> None:
    shards = ShardMap.even(2)
    assert shards.buckets_of(0) == list(range(512))
    assert shards.buckets_of(1) == list(range(512, 1024))


def test_parsed_map_moves_buckets() -> None:
    shards = ShardMap.parse("0-99=1, 100-1023=0", shard_count=2)
    assert shards.shard_for_bucket(0) == 1
    assert shards.shard_for_bucket(100) == 0


@pytest.mark.parametrize(
    "spec",
    ["0-511=0", "0-511=0,511-1023=1", "0-1023=2", "0-2000=0", "garbage", "10-5=0,0-1023=1"],
)
def test_map_must_cover_every_bucket_exactly_once(spec: str) -> None:
    with pytest.raises(ShardMapError):
        ShardMap.parse(spec, shard_count=2)


def test_local_transfer_ids_carry_the_source_bucket_and_route_to_its_shard() -> None:
    shards = ShardMap.even(2)
    local = new_local_transfer_id(1000)
    assert is_transfer_id(local)
    assert is_transfer_id(new_transfer_id())
    assert shards.shard_for_local_transfer(local) == shards.shard_for_bucket(1000)
    # A saga's transfer id carries no bucket: it lives in the coordinator.
    assert shards.shard_for_local_transfer(new_transfer_id()) is None
    assert shards.shard_for_local_transfer("wlt_3e8" + "0" * 32) is None
