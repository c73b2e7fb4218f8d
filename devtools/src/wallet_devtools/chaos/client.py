"""The chaos run's clients: they behave as a careful real client of the public API would.

A request that meets a connection error, a timeout, a 5xx, a 429 or `409 idempotency_key_in_use`
is sent again, unchanged (same Idempotency-Key, same body), after the `Retry-After` the answer
gave or a growing backoff, until it gets an answer or its patience runs out. Every answer is
counted, and the ones the API must never give are noted as violations: a 500 (reserved for bugs;
a dependency away is 503), a 503 without `Retry-After`, a balance read below zero.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp

_FIRST_BACKOFF_S = 0.1
_MAX_BACKOFF_S = 2.0
_MAX_RETRY_AFTER_S = 5.0  # a real client caps what it is told to wait, too
# Answers a client sends again unchanged: a dependency away, a rate limit, a key still running.
_RETRIED = frozenset({429, 500, 502, 503, 504})


class GaveUpError(RuntimeError):
    """A request kept failing past the client's patience."""


@dataclass(frozen=True)
class Answer:
    """One HTTP answer: status, parsed body (JSON or text) and whether it was a replay."""

    status: int
    body: Any
    replayed: bool

    @property
    def code(self) -> str | None:
        """The problem's `code`, when the body is a problem."""
        return self.body.get("code") if isinstance(self.body, dict) else None


@dataclass
class Tally:
    """What the clients met: answers by route and status, retries, the API's misdeeds."""

    answers: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    negative_reads: int = 0
    _violations: Counter[str] = field(default_factory=Counter)

    def note(self, violation: str) -> None:
        # Bounded: a broken run should say what broke, not print a million lines.
        if violation in self._violations or len(self._violations) < 200:
            self._violations[violation] += 1

    @property
    def violations(self) -> list[str]:
        """Each violation once, with how often it was met."""
        return [f"{v} ({n} times)" if n > 1 else v for v, n in self._violations.items()]


class Client:
    """Requests to the gateway with a real client's retry policy."""

    def __init__(self, session: aiohttp.ClientSession, tally: Tally, *, patience_s: float):
        self._session = session
        self._tally = tally
        self._patience_s = patience_s

    async def request(
        self,
        method: str,
        path: str,
        *,
        token: str,
        json: Any = None,
        headers: dict[str, str] | None = None,
        timeout_s: float = 30.0,
        route: str,
    ) -> Answer:
        """Send until an answer that is not worth repeating arrives; GaveUpError after the
        client's patience. `route` names the request in the tallies (`POST /v1/transfers`)."""
        give_up_at = time.monotonic() + self._patience_s
        backoff = _FIRST_BACKOFF_S
        all_headers = {"Authorization": f"Bearer {token}", **(headers or {})}
        timeout = aiohttp.ClientTimeout(total=timeout_s)
        attempt = 0
        while True:
            attempt += 1
            if attempt > 1:
                self._tally.retries += 1
            pause = backoff
            try:
                async with self._session.request(
                    method, path, json=json, headers=all_headers, timeout=timeout
                ) as response:
                    answer = await _read(response)
                    retry_after = response.headers.get("Retry-After")
            except (aiohttp.ClientError, TimeoutError) as error:
                _stop_if_cancelled(error)
                kind = "timeout" if isinstance(error, TimeoutError) else "connection error"
                self._tally.answers[f"{route} {kind}"] += 1
            else:
                self._tally.answers[f"{route} {answer.status}"] += 1
                self._judge(route, answer, retry_after)
                if not _worth_repeating(answer):
                    return answer
                if retry_after is not None and retry_after.isdigit():
                    pause = min(float(retry_after), _MAX_RETRY_AFTER_S)
            if time.monotonic() + pause > give_up_at:
                raise GaveUpError(f"{route} unanswered after {attempt} attempts")
            await asyncio.sleep(pause)
            backoff = min(backoff * 2, _MAX_BACKOFF_S)

    def _judge(self, route: str, answer: Answer, retry_after: str | None) -> None:
        if answer.status == 500 or answer.status > 504:
            self._tally.note(f"{route} answered {answer.status}: {str(answer.body)[:300]}")
        elif answer.status == 503 and retry_after is None:
            self._tally.note(f"{route} answered 503 without Retry-After: {answer.code}")


def _stop_if_cancelled(error: BaseException) -> None:
    """Re-raise the cancellation a failed request may have swallowed: a request cancelled
    mid-flight (Ctrl-C, the run ending) can surface as a timeout or a connection error, and
    retrying it would keep the run alive after it was told to stop."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError from error


def _worth_repeating(answer: Answer) -> bool:
    if answer.status in _RETRIED or answer.status > 504:
        return True
    return answer.status == 409 and answer.code == "idempotency_key_in_use"


async def _read(response: aiohttp.ClientResponse) -> Answer:
    text = await response.text()
    body: Any = text
    if response.content_type in ("application/json", "application/problem+json") and text:
        try:
            body = await response.json(content_type=None)
        except ValueError:
            body = text
    replayed = response.headers.get("Idempotent-Replayed", "").lower() == "true"
    return Answer(response.status, body, replayed)
