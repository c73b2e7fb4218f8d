"""Dead letters through the public API: a poison command on a shard's topic is listed with its
error and origin (next to the coordinator's own), replayed by an admin, and (still poison)
dead-lettered again."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiokafka import AIOKafkaProducer
from wallet_devtools.cluster import WalletCluster
from wallet_shared.contracts.topics import Topics

from tests.e2e.client import Api, Gateway, assert_problem, expect

POISON = b"this is not a transfer command"


async def produce_poison(bootstrap: str, topic: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(
            topic, value=POISON, key=b"wlt_poison", headers=[("trace_id", b"e2e-poison")]
        )
    finally:
        await producer.stop()


async def dead_letters_of(admin: Api, topic: str, *, count: int) -> list[dict[str, Any]]:
    """The dead letters from `topic`, newest first, once there are `count` of them."""
    deadline = time.monotonic() + 30
    while True:
        items = await admin.all_pages("/v1/admin/dead-letters", {"limit": 1})
        letters = [item for item in items if item["topic"] == topic]
        if len(letters) >= count:
            return letters
        assert time.monotonic() < deadline, f"dead letters of {topic}: {letters}"
        await asyncio.sleep(0.2)


async def test_a_poison_command_is_listed_replayed_and_dead_lettered_again(
    cluster: WalletCluster, gw: Gateway, kafka_bootstrap: str
) -> None:
    topics = Topics(prefix=cluster.topic_prefix)
    topic = topics.shard_commands(0)
    admin = gw.admin()
    await produce_poison(kafka_bootstrap, topic)
    await produce_poison(kafka_bootstrap, topics.transfer_replies)

    [reply] = await dead_letters_of(admin, topics.transfer_replies, count=1)
    assert reply["id"].startswith("dl_coordinator_")
    assert reply["service"] == "transfer-coordinator"

    [letter] = await dead_letters_of(admin, topic, count=1)
    assert letter["id"].startswith("dl_shard-0_")
    assert letter["service"] == "wallet-shard-0"
    assert letter["error"].startswith("undecodable")
    assert letter["attempts"] == 1
    assert (letter["value"], letter["value_encoding"]) == (POISON.decode(), "utf-8")
    assert letter["key"] == "wlt_poison"
    assert letter["headers"]["trace_id"] == "e2e-poison"
    assert letter["replayed_at"] is None
    replay_path = f"/v1/admin/dead-letters/{letter['id']}/replay"

    for caller in (gw.user("dl-user"), gw.auditor()):
        assert_problem(await caller.get("/v1/admin/dead-letters"), 403, "forbidden")
        assert_problem(await caller.post(replay_path), 403, "forbidden")
    for unknown in ("dl_shard-0_999999", "dl_coordinator_999999", "dl_shard-7_1", "anything"):
        assert_problem(
            await admin.post(f"/v1/admin/dead-letters/{unknown}/replay"), 404, "not_found"
        )

    replayed = expect(await admin.post(replay_path), 200)
    assert replayed["id"] == letter["id"]
    assert replayed["replayed_at"] is not None

    # Still poison: the shard dead-letters the replayed copy as a new dead letter, which names
    # the one it replays; the original stays listed, marked replayed, and is not replayed twice.
    again, original = await dead_letters_of(admin, topic, count=2)
    assert original["id"] == letter["id"]
    assert original["replayed_at"] == replayed["replayed_at"]
    assert again["id"] != letter["id"]
    assert again["id"].startswith("dl_shard-0_")
    assert again["error"].startswith("undecodable")
    assert again["value"] == POISON.decode()
    assert again["offset"] > letter["offset"]
    assert again["headers"]["replayed_dead_letter"] == letter["id"].rsplit("_", 1)[1]
    assert again["replayed_at"] is None
    assert_problem(await admin.post(replay_path), 409, "conflict")
    # The replay is audited by the shard, in the replay's transaction (the refused one is not).
    [audited] = await admin.all_pages("/v1/admin/audit-log", {"action": "dead_letter.replay"})
    assert (audited["actor"], audited["target"]) == ("ops-admin", letter["id"].rsplit("_", 1)[1])
