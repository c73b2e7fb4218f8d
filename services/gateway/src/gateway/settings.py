"""Gateway configuration, read from `WALLET_*` environment variables by `__main__` only."""

from __future__ import annotations

from pydantic import PositiveFloat, PositiveInt, SecretStr, model_validator
from wallet_shared.platform.settings import ServiceSettings


def _backend_urls(raw: str) -> tuple[str, ...]:
    return tuple(url.strip().rstrip("/") for url in raw.split(",") if url.strip())


class GatewaySettings(ServiceSettings):
    """Where the shards and the coordinator answer, how tokens are verified, and rate limits."""

    gateway_port: PositiveInt = 8000
    shard_urls: str
    """Comma-separated base URLs; the position is the shard id."""
    coordinator_url: str
    jwt_secret: SecretStr | None = None
    """HS256 shared secret (at least 32 bytes, RFC 7518 §3.2)."""
    jwt_public_key: str | None = None
    """PEM RSA public key; when set, only RS256 tokens are accepted."""
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    rate_limit_per_s: PositiveFloat = 100
    rate_limit_burst: PositiveInt = 200
    backend_timeout_s: PositiveFloat = 10
    ledger_maintenance_timeout_s: PositiveFloat = 100
    """A shard's answer to `wallet ledger verify|rebuild` (a whole-ledger aggregate): above the
    shard's own bound on a verification (90 s), below the CLI's (120 s), so each side gives up
    after the one it waits for, and the CLI hears why."""

    @model_validator(mode="after")
    def _check_backends(self) -> GatewaySettings:
        shard_urls = _backend_urls(self.shard_urls)
        if len(shard_urls) != self.shard_count:
            raise ValueError(
                f"WALLET_SHARD_URLS lists {len(shard_urls)} URLs but WALLET_SHARD_COUNT is "
                f"{self.shard_count}: give one URL per shard, in shard id order"
            )
        for url in (*shard_urls, self.coordinator_url.strip()):
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"backend URL {url!r} must start with http:// or https://")
        return self

    @model_validator(mode="after")
    def _separate_secrets(self) -> GatewaySettings:
        # One secret for both would let a public token pass as a service credential's key.
        if self.jwt_secret is not None and self.jwt_secret == self.internal_secret:
            raise ValueError("WALLET_INTERNAL_SECRET must differ from WALLET_JWT_SECRET")
        return self

    def shard_url_list(self) -> tuple[str, ...]:
        """The shards' base URLs, index = shard id, without trailing slashes."""
        return _backend_urls(self.shard_urls)

    def coordinator_base_url(self) -> str:
        """The coordinator's base URL without a trailing slash."""
        return self.coordinator_url.strip().rstrip("/")
