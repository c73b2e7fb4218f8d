"""Statement CSV: client-written text never runs as a spreadsheet formula."""

from __future__ import annotations

import pytest
from wallet_shard.entrypoints.statement_formats import spreadsheet_safe


@pytest.mark.parametrize("text", ['=HYPERLINK("x")', "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_text_a_spreadsheet_would_run_is_quoted(text: str) -> None:
    assert spreadsheet_safe(text) == "'" + text


@pytest.mark.parametrize("text", ["", "order 7", "1=1", "a-b"])
def test_plain_text_is_kept(text: str) -> None:
    assert spreadsheet_safe(text) == text
