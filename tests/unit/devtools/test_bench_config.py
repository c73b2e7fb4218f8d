"""`wallet bench` arguments: what a full and a quick run measure, what is refused."""

from __future__ import annotations

import pytest
from wallet_devtools.bench.config import PHASES, BenchError, parse_config


def test_a_full_run_measures_every_phase_longer_than_a_quick_one() -> None:
    full = parse_config(["--start"])
    quick = parse_config(["--start", "--quick"])
    assert full.phases == PHASES
    assert quick.phases == PHASES
    assert quick.duration_s < full.duration_s
    assert quick.wallets < full.wallets
    assert full.baseline_concurrencies == (8, 16, 32)
    # The system is warmed up once, before the first phase: a JVM broker's first minute.
    assert (full.system_warmup_s, quick.system_warmup_s) == (60.0, 15.0)
    assert parse_config(["--start", "--system-warmup", "0"]).system_warmup_s == 0.0


def test_phases_can_be_chosen_and_keep_their_order() -> None:
    config = parse_config(["--start", "--phases", "deposits,baseline"])
    assert config.phases == ("baseline", "deposits")


@pytest.mark.parametrize(
    "argv",
    [
        ["--start", "--gateway-url", "http://example.com:8000"],
        ["--start", "--phases", "cross_shard,warp_speed"],
        ["--start", "--phases", "half_load"],
        ["--start", "--shards", "1"],
        ["--start", "--duration", "0"],
        ["--start", "--read-rate", "-5"],
        ["--start", "--system-warmup", "-1"],
    ],
)
def test_arguments_that_make_no_sense_are_refused(argv: list[str]) -> None:
    with pytest.raises(BenchError):
        parse_config(argv)


def test_half_load_alone_runs_at_the_rate_it_is_given() -> None:
    config = parse_config(["--start", "--phases", "half_load", "--half-rate", "120"])
    assert config.phases == ("half_load",)
    assert config.half_rate == 120.0
