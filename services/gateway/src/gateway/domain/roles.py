"""Who may do what, by role (API.md "Authentication and roles")."""

from __future__ import annotations

from wallet_shared.contracts.errors import Forbidden
from wallet_shared.contracts.schemas import Role

from gateway.domain.principal import Principal


def require_role(caller: Principal, *allowed: Role, action: str) -> None:
    """`Forbidden` unless the caller's role is one of `allowed`."""
    if caller.role not in allowed:
        raise Forbidden(f"The role {caller.role!r} may not {action}.")


def owner_of_new_wallet(caller: Principal, requested_user_id: str | None) -> str:
    """Whose wallet a caller creates: their own, or (admins only) the user they name."""
    require_role(caller, "user", "admin", action="create wallets")
    if requested_user_id is None or requested_user_id == caller.user_id:
        return caller.user_id
    require_role(caller, "admin", action="create wallets for another user")
    return requested_user_id


def owner_to_list(caller: Principal, requested_user_id: str | None) -> str | None:
    """Whose wallets a listing covers: a user's own; for admin/auditor the one named, or all."""
    if caller.role != "user":
        return requested_user_id
    if requested_user_id is not None and requested_user_id != caller.user_id:
        raise Forbidden("A user may only list their own wallets.")
    return caller.user_id
