"""Kafka topic names. Every name carries the configured prefix so that tests and environments
never share a topic."""

from __future__ import annotations

from dataclasses import dataclass

DEAD_LETTER_SUFFIX = ".dlq"


@dataclass(frozen=True, slots=True)
class Topics:
    """The topic names of one deployment (one prefix)."""

    prefix: str = ""

    def shard_commands(self, shard: int) -> str:
        """TCC commands for one wallet shard, keyed by wallet id."""
        return f"{self.prefix}wallet.shard-{shard}.commands"

    @property
    def transfer_replies(self) -> str:
        """Shard replies for the transfer coordinator, keyed by transfer id."""
        return f"{self.prefix}wallet.transfer-replies"

    @property
    def events(self) -> str:
        """The public event topic (API.md), keyed by wallet id."""
        return f"{self.prefix}wallet.events.v1"

    @staticmethod
    def dead_letters(topic: str) -> str:
        """Where messages of `topic` go when they cannot be handled."""
        return f"{topic}{DEAD_LETTER_SUFFIX}"

    def all_for(self, shard_count: int) -> list[str]:
        """Every topic a deployment with `shard_count` shards uses, dead-letter topics included."""
        main = [self.shard_commands(s) for s in range(shard_count)]
        main += [self.transfer_replies, self.events]
        return main + [self.dead_letters(t) for t in main if t != self.events]
