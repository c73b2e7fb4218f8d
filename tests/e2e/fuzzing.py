"""Schemathesis over the gateway's own OpenAPI document, for tests/e2e/test_api_fuzz.py.

Requests are generated from the document (positive: what it allows; negative: what it
forbids) and sent to a running system, each with one caller's token:
- every operation on its own, as each caller (ids in paths are whatever was generated);
- with real ids: every operation whose path takes a wallet or a transaction id, with the
  caller's own wallet and a transaction of it in the path, every operation that creates
  something, and transfers between the caller's two wallets.
After every success, each read that the document's links lead to from that answer (the
created wallet, its transactions, balance and limits; the transfer; the webhook's deliveries)
is sent with the ids the answer gave: it must answer 200 at once.

Every answer goes through schemathesis' checks of the document (status code, content type,
headers and body as documented; negative data refused), through `not_a_server_error_check`
(no 5xx) and `problem_check` (a 4xx is `application/problem+json` with a `code`). Failures are
collected, not raised, so one run shows all of them and sends the same number of requests
whatever failed; nothing is shrunk.

Generation is seeded per operation, caller, mode and pass, and no example database is kept: a
run sends the same requests each time. Hypothesis' deadline and health checks are off, since
the machine's speed must not decide the outcome.

(Schemathesis' own state machine, which chains operations along links, was tried: with the
360 links it infers here it spent about 0.4 s of CPU per step on this machine, and a live
system makes its replays diverge (`Flaky`); following the documented links after each
success costs nothing.)
"""

from __future__ import annotations

import contextlib
import re
import threading
import zlib
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import hypothesis
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import CheckContext, CheckFunction
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.core.parameters import ParameterLocation
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.specs.openapi.schemas import OpenApiSchema

AnyCase = Case[Any]
Operation = APIOperation[Any, Any, Any, Any]

PROBLEM_MEDIA_TYPE: Final = "application/problem+json"
# Stand-in for every webhook URL the fuzzer writes: the coordinator resolves a registered URL's
# host and delivers events to it, and a test only ever sends traffic to this machine. Port 9
# (discard) has no listener, so a delivery is refused at once.
LOOPBACK_WEBHOOK_URL: Final = "http://127.0.0.1:9/fuzz"
# Far longer than any answer takes (a `Prefer: wait` transfer waits at most 30 s).
REQUEST_TIMEOUT_S: Final = 90.0


class ServerError(Failure):
    """A 5xx."""

    code = "ST998"
    kind_title = "Server error"


class ProblemWithoutCode(Failure):
    """A 4xx that is not `application/problem+json` with a string `code`."""

    code = "ST999"
    kind_title = "Client error without a problem code"


def not_a_server_error_check(
    ctx: CheckContext, response: schemathesis.Response, case: AnyCase
) -> bool | None:
    """No 5xx, whatever was sent: every backend is up during the run."""
    if response.status_code >= 500:
        raise ServerError(
            operation=case.operation.label,
            message=f"{response.status_code}: {response.text[:300]!r}",
        )
    return True


def problem_check(ctx: CheckContext, response: schemathesis.Response, case: AnyCase) -> bool | None:
    """Every 4xx is an RFC 9457 problem with a stable `code` (API.md, Conventions)."""
    if not 400 <= response.status_code < 500:
        return None
    media_type = response.headers.get("content-type", [""])[0]
    body = _json_or_none(response) if media_type.startswith(PROBLEM_MEDIA_TYPE) else None
    if not (isinstance(body, dict) and isinstance(body.get("code"), str) and body["code"]):
        raise ProblemWithoutCode(
            operation=case.operation.label,
            message=f"{response.status_code} with {media_type!r}: {response.text[:300]!r}",
        )
    return True


CHECKS: Final[list[CheckFunction]] = [
    not_a_server_error_check,
    problem_check,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@dataclass
class FuzzLog:
    """What a run sent and what it found."""

    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    # One description per (operation, failure title), the first seen.
    failures: dict[tuple[str, str], str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, status: int) -> None:
        with self._lock:
            self.requests += 1
            self.statuses[status] += 1

    def fail(self, label: str, title: str, text: str) -> None:
        with self._lock:
            self.failures.setdefault((label, title), text)

    def report(self) -> str:
        return "\n\n".join(
            f"[{label}] {title}\n{text}" for (label, title), text in self.failures.items()
        )


@dataclass
class Fuzzer:
    """Sends generated cases to the gateway at `base_url`, as one of `callers` (name -> the
    headers that authenticate it)."""

    schema: OpenApiSchema
    base_url: str
    callers: Mapping[str, Mapping[str, str]]
    log: FuzzLog = field(default_factory=FuzzLog)
    session: requests.Session = field(default_factory=requests.Session)

    def each_operation(self, examples: Mapping[str, int]) -> None:
        """At most `examples[caller]` positive and as many negative requests of every
        operation, as each caller."""
        for operation in self._operations():
            for caller, count in examples.items():
                for mode in _modes(operation):
                    strategy = operation.as_strategy(generation_mode=mode)
                    self._run(strategy, caller, count, f"{operation.label} {caller} {mode}")

    def with_real_ids(self, caller: str, ids: Mapping[str, str], *, examples: int) -> None:
        """At most `examples` positive and as many negative requests of every operation whose
        path takes only ids of `ids` (path parameter -> an id the caller owns), with those ids
        in the path, and of every creating operation; a transfer goes from `ids["wallet_id"]`
        to `ids["other_wallet_id"]`."""
        for operation in self._operations():
            names = set(re.findall(r"{(\w+)}", operation.path))
            if not names.issubset(ids) or (not names and not _creates(operation)):
                continue
            path_ids = {name: ids[name] for name in names}
            for mode in _modes(operation):
                strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_ids)
                if operation.label == "POST /v1/transfers" and mode is GenerationMode.POSITIVE:
                    # Only a valid body gets the real wallets: naming them in a negative one
                    # could replace the very field that made it invalid.
                    strategy = strategy.map(_between(ids["wallet_id"], ids["other_wallet_id"]))
                label = f"{operation.label} {caller} {mode} with real ids"
                self._run(strategy, caller, examples, label)

    def send(self, case: AnyCase, caller: str) -> None:
        """One request and its checks; then, if it succeeded, every read its links lead to."""
        response = self._exchange(case, caller)
        if response.status_code in (200, 201, 202):
            self._follow_links(case, caller, response)

    def _exchange(self, case: AnyCase, caller: str) -> schemathesis.Response:
        _confine_webhook_urls(case)
        kwargs = self._call_kwargs(caller)
        response = case.call(**kwargs)
        self.log.record(response.status_code)
        try:
            case.validate_response(response, checks=CHECKS, headers=kwargs["headers"])
        except FailureGroup as group:
            for failure in group.exceptions:
                self.log.fail(case.operation.label, failure.title, str(group))
        return response

    def _follow_links(self, case: AnyCase, caller: str, response: schemathesis.Response) -> None:
        # What was just created (or moved) can be read at once, by the ids its answer gave.
        body = _json_or_none(response)
        for name, link in _links(case.operation, response.status_code).items():
            target = self.schema.find_operation_by_id(link["operationId"])
            if target.method.upper() != "GET":
                continue
            parameters = {
                parameter: _from_body(expression, body)
                for parameter, expression in link["parameters"].items()
            }
            follow = target.Case(path_parameters=parameters)
            answer = self._exchange(follow, caller)
            if answer.status_code != 200:
                self.log.fail(
                    f"{case.operation.label} -> {name}",
                    "Created, then not found",
                    f"{case.operation.label} answered {response.text[:300]}, then "
                    f"{target.label} answered {answer.status_code}: {answer.text[:300]}",
                )

    def _operations(self) -> list[Operation]:
        operations = []
        for result in self.schema.get_all_operations():
            assert isinstance(result, Ok), f"the document is not valid: {result.err()}"
            operations.append(result.ok())
        return operations

    def _call_kwargs(self, caller: str) -> dict[str, Any]:
        return {
            "base_url": self.base_url,
            "session": self.session,
            "headers": dict(self.callers[caller]),
            "timeout": REQUEST_TIMEOUT_S,
        }

    def _run(
        self, strategy: st.SearchStrategy[AnyCase], caller: str, count: int, label: str
    ) -> None:
        @hypothesis.seed(zlib.crc32(label.encode()))
        @hypothesis.settings(
            max_examples=count,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @hypothesis.given(case=strategy)
        def examples(case: AnyCase) -> None:
            self.send(case, caller)

        # Unsatisfiable: no request of this kind exists (every negation of its input is filtered
        # out).
        with contextlib.suppress(Unsatisfiable):
            examples()


def _modes(operation: Operation) -> list[GenerationMode]:
    """Positive requests always; negative ones when the operation takes something that can be
    sent invalid: every string is a valid path segment, and the bearer header is the fuzzer's
    own (hypothesis would search long for a negative request and find none)."""
    negatable = bool(operation.body.items) or any(
        parameter.location is not ParameterLocation.PATH
        and parameter.name.lower() != "authorization"
        for parameter in operation.iter_parameters()
    )
    if negatable:
        return [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
    return [GenerationMode.POSITIVE]


def _links(operation: Operation, status: int) -> dict[str, Any]:
    """The OpenAPI links of an operation's answer with this status."""
    responses = operation.definition.raw.get("responses", {})
    links: dict[str, Any] = responses.get(str(status), {}).get("links", {})
    return links


def _creates(operation: Operation) -> bool:
    """Whether an answer of the operation links to something (it made a thing with an id)."""
    return any(response.get("links") for response in operation.definition.raw["responses"].values())


def _from_body(expression: str, body: Any) -> Any:
    """The value of a link parameter: the gateway's links all read a top-level member of the
    answer (`$response.body#/<name>`)."""
    prefix = "$response.body#/"
    assert expression.startswith(prefix), expression
    return body.get(expression.removeprefix(prefix)) if isinstance(body, dict) else None


def _json_or_none(response: schemathesis.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _between(source: str, destination: str) -> Callable[[AnyCase], AnyCase]:
    def name_wallets(case: AnyCase) -> AnyCase:
        if isinstance(case.body, dict):
            case.body["source_wallet_id"] = source
            case.body["destination_wallet_id"] = destination
        return case

    return name_wallets


def _confine_webhook_urls(case: AnyCase) -> None:
    if case.operation.label == "POST /v1/admin/webhooks" and isinstance(case.body, dict):
        url = case.body.get("url")
        if isinstance(url, str) and "://" in url:
            case.body["url"] = LOOPBACK_WEBHOOK_URL
