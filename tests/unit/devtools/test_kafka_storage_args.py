"""The broker's storage is formatted with a cluster id the tool can never read as an option."""

from __future__ import annotations

import argparse
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from wallet_devtools.kafka import new_cluster_id, storage_format_args

ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def parse_like_the_storage_tool(args: list[str]) -> argparse.Namespace:
    """An option parser shaped like StorageTool's `format` (which reads `-` as an option)."""
    parser = argparse.ArgumentParser(exit_on_error=False)
    parser.add_argument("command")
    parser.add_argument("--ignore-formatted", action="store_true")
    parser.add_argument("--cluster-id", "-t", required=True)
    parser.add_argument("--config", "-c", required=True)
    return parser.parse_args(args)


def test_an_id_that_begins_with_a_dash_is_glued_to_its_option() -> None:
    args = storage_format_args("-AbCdEfGhIjKlMnOpQrStUw", Path("/k/server.properties"))
    assert "--cluster-id=-AbCdEfGhIjKlMnOpQrStUw" in args
    parsed = parse_like_the_storage_tool(args)
    assert parsed.cluster_id == "-AbCdEfGhIjKlMnOpQrStUw"
    assert parsed.config == "/k/server.properties"


@given(st.text(alphabet=ID_ALPHABET, min_size=22, max_size=22))
def test_every_id_reaches_the_tool_whole(cluster_id: str) -> None:
    parsed = parse_like_the_storage_tool(storage_format_args(cluster_id, Path("p")))
    assert parsed.cluster_id == cluster_id


def test_new_ids_are_22_url_safe_characters() -> None:
    for _ in range(200):
        cluster_id = new_cluster_id()
        assert len(cluster_id) == 22
        assert set(cluster_id) <= set(ID_ALPHABET)
