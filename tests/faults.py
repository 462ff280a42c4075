"""Faults injected at the outermost boundary (botocore's HTTP session), where the emulator cannot produce them.

One injector: `inject(monkeypatch, "StartExecution", fault)` routes every request of that operation through
`fault(request, body, send)`, where `body` is the request's JSON (None for a non-JSON protocol) and `send()` sends it
for real; other requests pass untouched. The faults most tests need are below. AWS_MAX_ATTEMPTS=1 in a test makes
each injected fault final for its call (botocore's own retries would otherwise hide it).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectionClosedError, ReadTimeoutError
from botocore.httpsession import URLLib3Session

ORIGINAL_SEND = URLLib3Session.send
Fault = Callable[[Any, Any, Callable[[], Any]], Any]


class _Raw:
    """The body of a canned HTTP response, as botocore reads it."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.body


def _operation(request: Any) -> str:
    target = request.headers.get("X-Amz-Target", b"")
    return (target if isinstance(target, bytes) else target.encode()).decode().rsplit(".", 1)[-1]


def inject(monkeypatch: pytest.MonkeyPatch, operation: str, fault: Fault) -> None:
    """Route every request of the JSON operation `operation` (StartExecution, DescribeImages, ...) through `fault`."""

    def send(self: URLLib3Session, request: Any) -> Any:
        if _operation(request) != operation:
            return ORIGINAL_SEND(self, request)
        try:
            body = json.loads(request.body) if request.body else None
        except (TypeError, ValueError):
            body = None
        return fault(request, body, lambda: ORIGINAL_SEND(self, request))

    monkeypatch.setattr(URLLib3Session, "send", send)


def heal(monkeypatch: pytest.MonkeyPatch) -> None:
    """The network works again."""
    monkeypatch.setattr(URLLib3Session, "send", ORIGINAL_SEND)


def error_response(request: Any, code: str, status: int = 400, message: str = "injected") -> AWSResponse:
    """An AWS JSON-protocol error answer, as the service sends it."""
    headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "injected"}
    return AWSResponse(request.url, status, headers, _Raw(json.dumps({"__type": code, "message": message}).encode()))


def throttled(request: Any, body: Any, send: Callable[[], Any]) -> Any:
    """The service refuses the call: too many requests."""
    return error_response(request, "ThrottlingException", message="Rate exceeded")


def denied(request: Any, body: Any, send: Callable[[], Any]) -> Any:
    """IAM refuses the call (moto does not enforce IAM across accounts)."""
    return error_response(request, "AccessDeniedException", message="not authorized")


def dropped(request: Any, body: Any, send: Callable[[], Any]) -> Any:
    """The connection closes before the request reaches the service."""
    raise ConnectionClosedError(endpoint_url=request.url)


def lost(request: Any, body: Any, send: Callable[[], Any]) -> Any:
    """The service applies the call, and its answer is lost on the way back."""
    send()
    raise ReadTimeoutError(endpoint_url=request.url)


def when(test: Callable[[Any], bool], fault: Fault) -> Fault:
    """`fault` for the requests whose JSON body passes `test`; the others are sent."""

    def chosen(request: Any, body: Any, send: Callable[[], Any]) -> Any:
        return fault(request, body, send) if test(body) else send()

    return chosen


def deny(monkeypatch: pytest.MonkeyPatch, operation: str) -> None:
    """IAM refusing one operation."""
    inject(monkeypatch, operation, denied)


def count_calls(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Count every JSON-protocol request by operation (StartExecution, DescribeExecution, ListExecutions, ...)."""
    calls: Counter[str] = Counter()
    sending = URLLib3Session.send

    def send(self: URLLib3Session, request: Any) -> Any:
        operation = _operation(request)
        if operation:
            calls[operation] += 1
        return sending(self, request)

    monkeypatch.setattr(URLLib3Session, "send", send)
    return calls


def count_object_reads(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Count every S3 GetObject by the object's path (`/bucket/key`, as the URL has it; ranged reads too)."""
    from urllib.parse import unquote, urlsplit

    reads: Counter[str] = Counter()
    sending = URLLib3Session.send

    def send(self: URLLib3Session, request: Any) -> Any:
        url = urlsplit(request.url)
        if request.method == "GET" and "list-type" not in url.query and url.path.count("/") >= 2:
            reads[unquote(url.path)] += 1
        return sending(self, request)

    monkeypatch.setattr(URLLib3Session, "send", send)
    return reads
