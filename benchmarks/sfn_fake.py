"""A fake of the Step Functions JSON API (awsJson1_0, `X-Amz-Target: AWSStepFunctions.<Action>`), for benchmarks only.

Why a fake: it stands at the outermost boundary (HTTP on 127.0.0.1, in a process of its own), where the real
service's quotas cannot be exercised, and where moto scans every execution on each DescribeExecution (a 10,000-job
batch takes minutes to read there). It answers exactly what the tool calls, from dicts:

- StartExecution: idempotent as AWS is: the same name and input of a RUNNING execution answers its ARN and start
  date again; the same name with another input, or of a closed execution, is 400 ExecutionAlreadyExists.
- DescribeExecution (unknown: 400 ExecutionDoesNotExist), ListExecutions (newest first by start date,
  `statusFilter`, `maxResults` up to 1,000, `nextToken`), StopExecution (-> ABORTED).

Options: `--latency MS` added to every AWS request (a sleep in the request's thread, so requests overlap as they do
over a network); `--quota [ACTIONS]` enforces the documented token buckets of `cryoet_release.quotas.DOCUMENTED`
(us-west-2's column) for StartExecution, or for the comma-separated actions given: an empty bucket answers 400
ThrottlingException. Execution ARNs are `arn:aws:states:<region>:<account>:execution:<machine>:<name>`; timestamps
are epoch seconds (floats), as the service sends them.

Control endpoints (not AWS; JSON bodies, POST):
- /fake/seed {"state_machine", "executions": [{"name", "input", "status", "start"?, "stop"?, "error"?, "cause"?}]};
- /fake/status {"state_machine", "changes": [{"name", "status", "error"?, "cause"?}]};
- /fake/counters {"per_name"?}: calls and throttled calls by action, executions by status, StartExecution's
  successful answers (in all, the names answered twice, and with "per_name" the count of each name);
- /fake/reset {"executions"?}: zero the counters, refill the buckets, and (unless "executions" is false) forget every
  execution;
- /fake/config {"latency_ms"}.

Run it as `python -m benchmarks.sfn_fake --port 0 [--latency MS] [--quota]` (it prints `listening on HOST:PORT`),
or start it from a benchmark with `with sfn_fake.running(latency_ms=20) as fake: ...`.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryoet_release.quotas import DOCUMENTED, Quota, documented

ROOT = Path(__file__).resolve().parents[1]
FINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})
STATUSES = FINAL | {"RUNNING", "PENDING_REDRIVE"}
MAX_RESULTS = 1000
JSON_TYPE = "application/x-amz-json-1.0"


class Refused(Exception):
    """An AWS error answer: 400 and `{"__type": code, "message": message}`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Bucket:
    """The service's token bucket of one action: a request without a token is throttled, never delayed."""

    def __init__(self, quota: Quota) -> None:
        self.quota = quota
        self.tokens = quota.bucket
        self.stamp = time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.quota.bucket, self.tokens + (now - self.stamp) * self.quota.refill)
            self.stamp = now
            if self.tokens < 1:
                return False
            self.tokens -= 1
            return True


class Execution:
    __slots__ = ("arn", "cause", "error", "input", "machine", "name", "seq", "start", "status", "stop")

    def __init__(self, machine: str, name: str, document: str, start: float, seq: int) -> None:
        self.machine, self.name, self.input, self.start, self.seq = machine, name, document, start, seq
        self.arn = execution_arn(machine, name)
        self.status = "RUNNING"
        self.stop: float | None = None
        self.error: str | None = None
        self.cause: str | None = None

    def close(self, status: str, error: str | None = None, cause: str | None = None, at: float | None = None) -> None:
        self.status, self.error, self.cause = status, error, cause
        self.stop = None if status == "RUNNING" else (at or max(time.time(), self.start))

    def summary(self) -> dict[str, Any]:
        item = {
            "executionArn": self.arn, "stateMachineArn": self.machine, "name": self.name, "status": self.status,
            "startDate": self.start,
        }  # fmt: skip
        if self.stop is not None:
            item["stopDate"] = self.stop
        return item

    def description(self) -> dict[str, Any]:
        item = {**self.summary(), "input": self.input, "inputDetails": {"included": True}}
        item.update({k: v for k, v in (("error", self.error), ("cause", self.cause)) if v is not None})
        return item


def execution_arn(machine: str, name: str) -> str:
    prefix, machine_name = machine.split(":stateMachine:", 1)
    return f"{prefix}:execution:{machine_name}:{name}"


class Machine:
    """One state machine's executions, oldest first by (start date, arrival): ListExecutions walks it backwards."""

    def __init__(self) -> None:
        self.keys: list[tuple[float, int]] = []
        self.order: list[Execution] = []

    def add(self, execution: Execution) -> None:
        key = (execution.start, execution.seq)
        if not self.keys or key >= self.keys[-1]:
            self.keys.append(key)
            self.order.append(execution)
        else:
            at = bisect.bisect(self.keys, key)
            self.keys.insert(at, key)
            self.order.insert(at, execution)

    def page(self, status: str | None, size: int, token: str | None) -> tuple[list[Execution], str | None]:
        """Up to `size` executions older than the token's, newest first; a token only if one more would match."""
        at = len(self.order) - 1
        if token:
            start, seq = token.split("/")
            at = bisect.bisect_left(self.keys, (float(start), int(seq))) - 1
        found: list[Execution] = []
        while at >= 0:
            execution = self.order[at]
            if status is None or execution.status == status:
                if len(found) == size:
                    last = found[-1]
                    return found, f"{last.start!r}/{last.seq}"
                found.append(execution)
            at -= 1
        return found, None


class Fake:
    """The service's state: executions by ARN, each state machine's order, the counters and the buckets."""

    def __init__(self, *, latency: float, buckets: dict[str, Bucket]) -> None:
        self.latency = latency
        self.buckets = buckets
        self.lock = threading.Lock()
        self.executions: dict[str, Execution] = {}
        self.machines: dict[str, Machine] = {}
        self.seq = 0
        self.calls: Counter[str] = Counter()
        self.throttled: Counter[str] = Counter()
        self.accepted: Counter[str] = Counter()
        """StartExecution answered with success, per execution name (2 or more: started again, idempotently)."""

    # --- the AWS API ------------------------------------------------------------------------------------------

    def call(self, action: str, request: dict[str, Any]) -> dict[str, Any]:
        handler = getattr(self, f"_{action}", None)
        with self.lock:
            self.calls[action] += 1
            bucket = self.buckets.get(action)
            if bucket is not None and not bucket.take():
                self.throttled[action] += 1
                raise Refused("ThrottlingException", "Rate exceeded")
            if handler is None:
                raise Refused("UnknownOperationException", f"the fake does not implement {action}")
            return handler(request)  # type: ignore[no-any-return]

    def _StartExecution(self, request: dict[str, Any]) -> dict[str, Any]:
        machine, name, document = request["stateMachineArn"], request["name"], request.get("input", "{}")
        existing = self.executions.get(execution_arn(machine, name))
        if existing is not None and (existing.status != "RUNNING" or existing.input != document):
            raise Refused("ExecutionAlreadyExists", f"Execution Already Exists: '{existing.arn}'")
        if existing is None:
            existing = self._add(machine, name, document, time.time())
        self.accepted[name] += 1
        return {"executionArn": existing.arn, "startDate": existing.start}

    def _DescribeExecution(self, request: dict[str, Any]) -> dict[str, Any]:
        return self._get(request["executionArn"]).description()

    def _ListExecutions(self, request: dict[str, Any]) -> dict[str, Any]:
        size = int(request.get("maxResults") or 100)
        if not 0 < size <= MAX_RESULTS:
            raise Refused("ValidationException", f"maxResults must be 1-{MAX_RESULTS}")
        machine = self.machines.get(request["stateMachineArn"], Machine())
        found, token = machine.page(request.get("statusFilter"), size, request.get("nextToken"))
        return {"executions": [e.summary() for e in found], **({"nextToken": token} if token else {})}

    def _StopExecution(self, request: dict[str, Any]) -> dict[str, Any]:
        execution = self._get(request["executionArn"])
        if execution.status == "RUNNING":
            execution.close("ABORTED", request.get("error"), request.get("cause"))
        return {"stopDate": execution.stop}

    def _get(self, arn: str) -> Execution:
        execution = self.executions.get(arn)
        if execution is None:
            raise Refused("ExecutionDoesNotExist", f"Execution Does Not Exist: '{arn}'")
        return execution

    def _add(self, machine: str, name: str, document: str, start: float) -> Execution:
        self.seq += 1
        execution = Execution(machine, name, document, start, self.seq)
        self.executions[execution.arn] = execution
        self.machines.setdefault(machine, Machine()).add(execution)
        return execution

    # --- control (not AWS) ------------------------------------------------------------------------------------

    def control(self, path: str, request: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            if path == "seed":
                return self._seed(request["state_machine"], request["executions"])
            if path == "status":
                return self._set_statuses(request["state_machine"], request["changes"])
            if path == "counters":
                return self._counters(per_name=bool(request.get("per_name")))
            if path == "reset":
                return self._reset(forget=request.get("executions", True))
            if path == "config":
                self.latency = float(request.get("latency_ms", self.latency * 1000)) / 1000
                return {"latency_ms": self.latency * 1000}
        raise Refused("UnknownControl", f"no /fake/{path}")

    def _seed(self, machine: str, executions: Sequence[dict[str, Any]]) -> dict[str, Any]:
        now = time.time()
        for item in executions:
            execution = self._add(machine, item["name"], item.get("input", "{}"), item.get("start", now))
            if item.get("status", "RUNNING") != "RUNNING":
                execution.close(item["status"], item.get("error"), item.get("cause"), item.get("stop"))
        return {"seeded": len(executions), "executions": len(self.executions)}

    def _set_statuses(self, machine: str, changes: Sequence[dict[str, Any]]) -> dict[str, Any]:
        for change in changes:
            if change["status"] not in STATUSES:
                raise Refused("ValidationException", f"unknown status {change['status']}")
            self._get(execution_arn(machine, change["name"])).close(
                change["status"], change.get("error"), change.get("cause")
            )
        return {"changed": len(changes)}

    def _counters(self, *, per_name: bool) -> dict[str, Any]:
        return {
            "calls": dict(self.calls),
            "throttled": dict(self.throttled),
            "executions": len(self.executions),
            "statuses": dict(Counter(e.status for e in self.executions.values())),
            "accepted": sum(self.accepted.values()),
            "names_accepted": len(self.accepted),
            "accepted_twice": sorted(name for name, count in self.accepted.items() if count > 1),
            **({"accepted_per_name": dict(self.accepted)} if per_name else {}),
        }

    def _reset(self, *, forget: bool) -> dict[str, Any]:
        self.calls.clear()
        self.throttled.clear()
        self.accepted.clear()
        for action, bucket in self.buckets.items():
            self.buckets[action] = Bucket(bucket.quota)
        if forget:
            self.executions.clear()
            self.machines.clear()
        return {"executions": len(self.executions)}


class Handler(BaseHTTPRequestHandler):
    """One keep-alive connection: each request read whole, each answer written in one send (no Nagle stalls)."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: Server

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        fake = self.server.fake
        try:
            request = json.loads(body) if body else {}
            if self.path.startswith("/fake/"):
                status, answer = 200, fake.control(self.path.removeprefix("/fake/"), request)
            else:
                action = (self.headers.get("X-Amz-Target") or "").rpartition(".")[2]
                try:
                    status, answer = 200, fake.call(action, request)
                finally:
                    if fake.latency:
                        time.sleep(fake.latency)
        except Refused as refused:
            status, answer = 400, {"__type": refused.code, "message": str(refused)}
        except (KeyError, ValueError, TypeError) as error:
            status, answer = 400, {"__type": "ValidationException", "message": f"bad request: {error!r}"}
        self._answer(status, json.dumps(answer, separators=(",", ":")).encode())

    do_GET = do_POST

    def _answer(self, status: int, payload: bytes) -> None:
        head = (
            f"HTTP/1.1 {status} {'OK' if status == 200 else 'Bad Request'}\r\nContent-Type: {JSON_TYPE}\r\n"
            f"Content-Length: {len(payload)}\r\nx-amzn-RequestId: fake\r\n\r\n"
        )
        self.wfile.write(head.encode() + payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512  # a pool of clients connecting at once must not overflow the listen backlog

    def __init__(self, address: tuple[str, int], fake: Fake) -> None:
        super().__init__(address, Handler)
        self.fake = fake


def buckets_for(actions: Sequence[str], region: str) -> dict[str, Bucket]:
    unknown = set(actions) - set(DOCUMENTED)
    if unknown:
        raise SystemExit(f"--quota: no documented quota for {', '.join(sorted(unknown))}")
    return {action: Bucket(documented(action, region)) for action in actions}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port (printed)")
    parser.add_argument("--latency", type=float, default=0.0, metavar="MS", help="added to every AWS request")
    parser.add_argument(
        "--quota", nargs="?", const="StartExecution", default="", metavar="ACTIONS",
        help="enforce the documented token buckets of these actions (default: StartExecution)",
    )  # fmt: skip
    parser.add_argument("--region", default="us-west-2", help="whose column of the documented quotas")
    args = parser.parse_args()
    actions = [action for action in args.quota.split(",") if action]
    fake = Fake(latency=args.latency / 1000, buckets=buckets_for(actions, args.region))
    server = Server((args.host, args.port), fake)
    print(f"listening on {args.host}:{server.server_address[1]}", flush=True)
    with suppress(KeyboardInterrupt):
        server.serve_forever()


# --- for benchmarks: the fake in a process of its own -------------------------------------------------------------


@dataclass
class Client:
    """The running fake: its endpoint, and its control endpoints."""

    process: subprocess.Popen[str]
    endpoint: str

    def control(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        request = urllib.request.Request(
            f"{self.endpoint}/fake/{path}", data=json.dumps(body or {}).encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())  # type: ignore[no-any-return]

    def seed(self, machine: str, executions: Sequence[dict[str, Any]]) -> None:
        self.control("seed", {"state_machine": machine, "executions": list(executions)})

    def set_statuses(self, machine: str, changes: Sequence[dict[str, Any]]) -> None:
        self.control("status", {"state_machine": machine, "changes": list(changes)})

    def counters(self) -> dict[str, Any]:
        return self.control("counters")

    def reset(self, *, executions: bool = True) -> None:
        self.control("reset", {"executions": executions})

    def environ(self, region: str = "us-west-2") -> dict[str, str]:
        """What boto3 needs to call the fake: its endpoint, credentials bench/bench, a region, no config files."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": region, "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }  # fmt: skip

    def cpu_seconds(self) -> float:
        """The fake process's CPU time so far (user + system), from /proc."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def running(*, latency_ms: float = 0.0, quota: Sequence[str] = ()) -> Iterator[Client]:
    """The fake in a process of its own on 127.0.0.1 (it does not share the benchmark's interpreter lock)."""
    argv = [sys.executable, "-m", "benchmarks.sfn_fake", "--port", "0", "--latency", str(latency_ms)]
    if quota:
        argv += ["--quota", ",".join(quota)]
    process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("listening on "):
            raise RuntimeError(f"the fake did not start: {line!r}")
        yield Client(process, f"http://{line.split()[-1]}")
    finally:
        process.terminate()
        process.wait(timeout=10)


if __name__ == "__main__":
    main()
