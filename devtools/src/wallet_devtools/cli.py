"""The `wallet` command (typer): `wallet run` (what `make run` runs), `wallet token`, `wallet
bench`, `wallet chaos`, and the operator commands: `wallet integrity`, `wallet dead-letters`,
`wallet ledger`, `wallet backup`, `wallet restore` (`wallet_devtools.ops`). `--help` on every
one.

This is the only module of the package that reads the environment (through the options'
environment variables); everything below it takes its settings as arguments.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from wallet_devtools import bench, chaos
from wallet_devtools.cluster import WalletCluster, start_servers
from wallet_devtools.kafka import KAFKA_VERSION, KafkaBroker, install_kafka, kafka_installed
from wallet_devtools.layout import MANAGED_ENV
from wallet_devtools.ops import admin_commands, backup_commands
from wallet_devtools.paths import KAFKA_LIBS_DIR, REPO_ROOT, RUN_DIR
from wallet_devtools.postgres import PostgresServer, database_dsn
from wallet_devtools.processes import port_is_free
from wallet_devtools.tokens import DEV_JWT_SECRET, mint_token

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

app = typer.Typer(
    name="wallet",
    help="Run and operate the wallet system: local runs, tokens, the benchmark, and the "
    "operator commands (every one works against a remote gateway with --gateway-url and "
    "--token, or WALLET_GATEWAY_URL and WALLET_TOKEN).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("integrity")(admin_commands.integrity)
app.add_typer(admin_commands.dead_letters_app, name="dead-letters")
app.add_typer(admin_commands.ledger_app, name="ledger")
app.command("backup")(backup_commands.backup)
app.command("restore")(backup_commands.restore)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `wallet` console script: the command's exit code (2: wrong usage)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        app(args=arguments, prog_name="wallet")
    except SystemExit as done:  # typer ends every command this way, with its code
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    return 0


class TokenRole(StrEnum):
    user = "user"
    admin = "admin"
    auditor = "auditor"


@app.command()
def token(
    sub: Annotated[str, typer.Option(help="User id (the token's subject).")],
    role: Annotated[TokenRole, typer.Option(help="The token's role.")] = TokenRole.user,
    ttl: Annotated[int, typer.Option(help="Lifetime in seconds.")] = 3600,
    secret: Annotated[
        str, typer.Option(envvar="WALLET_JWT_SECRET", help="HS256 secret.", show_default=False)
    ] = DEV_JWT_SECRET,
    issuer: Annotated[str | None, typer.Option(envvar="WALLET_JWT_ISSUER")] = None,
    audience: Annotated[str | None, typer.Option(envvar="WALLET_JWT_AUDIENCE")] = None,
) -> None:
    """Print a JWT the local gateway accepts."""
    print(
        mint_token(
            secret=secret or DEV_JWT_SECRET,
            sub=sub,
            role=role.value,
            ttl_s=ttl,
            issuer=issuer,
            audience=audience,
        )
    )


@app.command(
    "bench",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    # Its own options, parsed (and `--help` answered) by wallet_devtools.bench.
    add_help_option=False,
)
def bench_command(ctx: typer.Context) -> None:
    """Measure transfers and balance reads end to end (`wallet bench --help` for options)."""
    raise typer.Exit(bench.main(list(ctx.args)))


@app.command(
    "chaos",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    # Its own options, parsed (and `--help` answered) by wallet_devtools.chaos.
    add_help_option=False,
)
def chaos_command(ctx: typer.Context) -> None:
    """Transfers while every part of a throwaway system is killed, then the books checked
    (`wallet chaos --help` for options; `--seed` replays a run)."""
    raise typer.Exit(chaos.main(list(ctx.args)))


@dataclass(frozen=True)
class RunOptions:
    shards: int
    gateway_port: int
    state_dir: Path
    topic_prefix: str
    log_format: str


@app.command()
def run(
    shards: Annotated[int, typer.Option(envvar="WALLET_SHARD_COUNT", min=1)] = 2,
    gateway_port: Annotated[int, typer.Option(envvar="WALLET_GATEWAY_PORT")] = 8000,
    state_dir: Annotated[Path, typer.Option(help="Data and logs folder.")] = RUN_DIR,
    topic_prefix: Annotated[str, typer.Option(envvar="WALLET_TOPIC_PREFIX")] = "",
    log_format: Annotated[str, typer.Option(envvar="WALLET_LOG_FORMAT")] = "console",
) -> None:
    """Start PostgreSQL, Kafka and every service here, until Ctrl-C."""
    options = RunOptions(shards, gateway_port, state_dir, topic_prefix, log_format)
    raise typer.Exit(asyncio.run(_run(options, os.environ)))


# --- wallet run ------------------------------------------------------------------------------


async def _run(args: RunOptions, env: Mapping[str, str]) -> int:
    """Run everything until a stop signal; whatever was started is stopped on the way out."""
    serving = asyncio.create_task(_serve(args, env))
    loop = asyncio.get_running_loop()
    first_request: list[float] = []
    for sig in _STOP_SIGNALS:
        loop.add_signal_handler(sig, _request_stop, serving, first_request)
    try:
        await serving
    except asyncio.CancelledError:
        print("\nAll processes stopped.", flush=True)
        return 0
    except Exception as error:  # shown to a person at a terminal, not a traceback
        print(f"\nwallet run failed: {error}", file=sys.stderr, flush=True)
        return 1
    finally:
        for sig in _STOP_SIGNALS:
            loop.remove_signal_handler(sig)
    return 0


def _request_stop(serving: asyncio.Task[None], first_request: list[float]) -> None:
    now = time.monotonic()
    if not first_request:
        first_request.append(now)
        print("\nStopping...", flush=True)
        serving.cancel()
    elif now - first_request[0] > 1.0:
        # A terminal's Ctrl-C reaches both `uv run` and us, and uv forwards it once more: only
        # a later signal is a person asking again.
        print("Still stopping, please wait...", flush=True)


async def _serve(args: RunOptions, env: Mapping[str, str]) -> None:
    """Start PostgreSQL, Kafka and the cluster, print where they are, then wait forever."""
    state_dir: Path = args.state_dir.resolve()
    if not port_is_free(args.gateway_port):
        # Said now, not after a minute of starting everything else.
        raise RuntimeError(
            f"127.0.0.1:{args.gateway_port} is taken; set WALLET_GATEWAY_PORT to another port"
        )
    if not kafka_installed(libs_dir=KAFKA_LIBS_DIR):
        print(f"Resolving the Kafka {KAFKA_VERSION} broker jars with Maven (first run only)...")
    await asyncio.to_thread(install_kafka, libs_dir=KAFKA_LIBS_DIR)
    jwt_secret = env.get("WALLET_JWT_SECRET") or DEV_JWT_SECRET
    print("Starting PostgreSQL and Kafka...", flush=True)
    async with contextlib.AsyncExitStack() as stack:
        pg, kafka = await start_servers(stack, state_dir)
        print("Starting the services...", flush=True)
        cluster = WalletCluster(
            admin_dsn=pg.dsn,
            kafka_bootstrap=kafka.bootstrap,
            log_dir=state_dir / "logs",
            shard_count=args.shards,
            topic_prefix=args.topic_prefix,
            jwt_secret=jwt_secret,
            # Random per run unless set: nothing outside the services needs it, so never shown.
            internal_secret=env.get("WALLET_INTERNAL_SECRET"),
            gateway_port=args.gateway_port,
            log_format=args.log_format,
            log_level=env.get("WALLET_LOG_LEVEL"),
            extra_env=_passed_through(env),
            base_env=env,
        )
        await stack.enter_async_context(cluster)
        _print_summary(cluster, pg, kafka, dev_secret=jwt_secret == DEV_JWT_SECRET)
        await _watch(cluster)


def _passed_through(env: Mapping[str, str]) -> dict[str, str]:
    """WALLET_* settings of the caller that the launcher does not set itself (rate limits,
    JWT issuer and audience, deadlines...), handed to every service."""
    return {
        key: value
        for key, value in env.items()
        if key.startswith("WALLET_")
        and key not in MANAGED_ENV
        and not key.startswith("WALLET_TEST_")
    }


async def _watch(cluster: WalletCluster) -> None:
    """Wait until cancelled, telling once about any service that dies meanwhile."""
    reported: set[str] = set()
    while True:
        await asyncio.sleep(1.0)
        for name in cluster.services:
            if name not in reported and not cluster.is_running(name):
                reported.add(name)
                print(
                    f"!! {name} exited; its log: {_shown(cluster.log_path(name))}",
                    file=sys.stderr,
                    flush=True,
                )


def _shown(path: Path) -> str:
    with contextlib.suppress(ValueError):
        return str(path.relative_to(REPO_ROOT))
    return str(path)


def _print_summary(
    cluster: WalletCluster, pg: PostgresServer, kafka: KafkaBroker, *, dev_secret: bool
) -> None:
    width = max(len(name) for name in cluster.services) + 2
    lines = ["", "Wallet system is up.", ""]
    lines.append(f"  {'gateway':<{width}} {cluster.gateway_url}   (API docs: /docs)")
    for name, url in cluster.urls.items():
        if name != "gateway":
            lines.append(f"  {name:<{width}} {url}")
    lines += ["", f"  PostgreSQL   {pg.dsn}   (log {_shown(pg.log_path)})"]
    for name in cluster.database_names.all:
        lines.append(f"               {database_dsn(pg.dsn, name)}")
    prefix = f'"{cluster.topic_prefix}"'
    lines.append(
        f"  Kafka        {kafka.bootstrap}   (Kafka {KAFKA_VERSION}, topic prefix {prefix})"
    )
    lines.append(f"  logs         {_shown(cluster.log_dir)}/")
    secret_note = (
        "development secret; set WALLET_JWT_SECRET for your own"
        if dev_secret
        else ("from WALLET_JWT_SECRET")
    )
    shown_secret = cluster.jwt_secret if dev_secret else "(hidden)"
    lines.append(f"  JWT secret   {shown_secret}   ({secret_note})")
    admin = cluster.token("admin", "admin", ttl_s=24 * 3600)
    user = cluster.token("alice", "user", ttl_s=24 * 3600)
    lines += [
        "",
        "Admin token (sub=admin, 24 h):",
        f"  export WALLET_ADMIN_TOKEN={admin}",
        "User token example (sub=alice, 24 h):",
        f"  export WALLET_USER_TOKEN={user}",
        "Try:",
        f'  curl -s -X POST {cluster.gateway_url}/v1/wallets -H "Authorization: Bearer '
        '$WALLET_USER_TOKEN" -H "Content-Type: application/json" -d \'{"currency": "EUR"}\'',
        "More tokens: uv run wallet token --sub bob --role user",
        "",
        "Press Ctrl-C to stop everything.",
    ]
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    sys.exit(main())
