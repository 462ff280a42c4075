"""Faults injected at the outermost boundary (botocore's HTTP session), where the emulator cannot produce them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.httpsession import URLLib3Session


class _Raw:
    """The body of a canned HTTP response, as botocore reads it."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Any:
        yield self.body


def deny(monkeypatch: pytest.MonkeyPatch, operation: bytes) -> None:
    """IAM refusing one ECR operation, injected at the outermost boundary (the HTTP session): moto does not
    enforce IAM across accounts."""
    from botocore.awsrequest import AWSResponse

    original = URLLib3Session.send

    def send(self: URLLib3Session, request: Any) -> Any:
        target = request.headers.get("X-Amz-Target", b"")
        if operation in (target if isinstance(target, bytes) else target.encode()):
            body = json.dumps({"__type": "AccessDeniedException", "message": "not authorized"}).encode()
            return AWSResponse(request.url, 400, {"Content-Type": "application/x-amz-json-1.1"}, _Raw(body))
        return original(self, request)

    monkeypatch.setattr(URLLib3Session, "send", send)
