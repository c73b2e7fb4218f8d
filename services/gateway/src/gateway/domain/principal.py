"""Who is calling: the caller a verified token names (adapters/tokens.py verifies it)."""

from __future__ import annotations

from dataclasses import dataclass

from wallet_shared.contracts.schemas import Role


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller."""

    user_id: str
    role: Role

    @property
    def owner_scope(self) -> str | None:
        """The owner whose wallets alone this caller may see (role `user`), or None."""
        return self.user_id if self.role == "user" else None
