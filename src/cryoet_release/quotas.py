"""How fast the tool may call Step Functions: the documented quotas, and one client-side limiter per API action that
every client of the process shares.

Step Functions throttles API actions per account and Region with a token bucket (AWS Step Functions Developer
Guide, "Step Functions service quotas", the API action throttling tables; Standard workflows):

| API action         | us-east-1, us-west-2, eu-west-1 | other Regions       |
|--------------------|---------------------------------|---------------------|
| StartExecution     | bucket 1,300, refill 300/s      | bucket 800, 150/s   |
| DescribeExecution  | bucket 300, refill 15/s         | bucket 250, 10/s    |
| ListExecutions     | bucket 200, refill 5/s          | bucket 100, 2/s     |

The same account runs the portal's other jobs, so reads take at most two thirds of the refill and a fifth of the
bucket by default. Submissions take 95% of both: an enqueue is what the quota is for, and it should not lose the
throughput the quota allows. Every limit is configurable (`rate_limits` in cryoet-release.toml), and a limiter that
sees a ThrottlingException halves its rate, then climbs back to its limit over a minute (adaptive: it yields to the
account's other users).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

BUSIEST_REGIONS = frozenset({"us-east-1", "us-west-2", "eu-west-1"})


@dataclass(frozen=True)
class Quota:
    bucket: float
    refill: float
    """Tokens per second."""


# (action) -> (quota in the busiest Regions, quota elsewhere), as documented.
DOCUMENTED: Mapping[str, tuple[Quota, Quota]] = {
    "StartExecution": (Quota(1300, 300), Quota(800, 150)),
    "DescribeExecution": (Quota(300, 15), Quota(250, 10)),
    "ListExecutions": (Quota(200, 5), Quota(100, 2)),
}
# The share of the documented quota the tool takes by default: (of the bucket, of the refill).
SHARE: Mapping[str, tuple[float, float]] = {
    "StartExecution": (0.95, 0.95),
    "DescribeExecution": (0.2, 2 / 3),
    "ListExecutions": (0.2, 2 / 3),
}


def documented(action: str, region: str) -> Quota:
    busiest, elsewhere = DOCUMENTED[action]
    return busiest if region in BUSIEST_REGIONS else elsewhere


Override = tuple[float | None, float | None]
"""A configured (bucket, refill); None: that part's default."""


def default_limit(action: str, region: str) -> Quota:
    quota, (of_bucket, of_refill) = documented(action, region), SHARE[action]
    return Quota(max(1.0, quota.bucket * of_bucket), quota.refill * of_refill)


class Limiter:
    """A token bucket that waits for a token before each request, and slows down when the service throttles.

    After a throttle the rate is halved (never below a tenth of the limit); it then climbs back to the limit
    linearly over `recovery` seconds without throttles, as TCP's congestion control (and botocore's adaptive mode)
    do.
    """

    def __init__(
        self, limit: Quota, *, recovery: float = 60.0, clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:  # fmt: skip
        self.limit = limit
        self.rate = limit.refill
        self.recovery = recovery
        self._clock, self._sleep = clock, sleep
        self._tokens = limit.bucket
        self._stamp = clock()
        self._throttled_at: float | None = None
        self._floor = limit.refill
        self._lock = threading.Lock()
        self.waited = 0.0
        """Seconds spent waiting for tokens (what the limit cost)."""
        self.throttles = 0

    def _refill(self, now: float) -> None:
        if self._throttled_at is not None:
            climbed = (now - self._throttled_at) / self.recovery * self.limit.refill
            self.rate = min(self.limit.refill, self._floor + climbed)
            if self.rate >= self.limit.refill:
                self._throttled_at = None
        self._tokens = min(self.limit.bucket, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def acquire(self) -> None:
        """Take one token, waiting for it if there is none."""
        while True:
            with self._lock:
                now = self._clock()
                self._refill(now)
                if self._tokens >= 1 - 1e-9:  # what a wait of exactly the right length gives, to rounding
                    self._tokens -= 1
                    return
                wait = (1 - self._tokens) / self.rate
            self.waited += wait
            self._sleep(wait)

    def throttled(self) -> None:
        """The service refused a request for its rate: halve ours, and empty the bucket."""
        with self._lock:
            now = self._clock()
            self._refill(now)
            self.throttles += 1
            self._floor = max(self.limit.refill / 10, self.rate / 2)
            self.rate = self._floor
            self._throttled_at = now
            self._tokens = min(self._tokens, 0.0)


_LIMITERS: dict[tuple[str, str], Limiter] = {}
_REGISTRY_LOCK = threading.Lock()


def limiter(action: str, region: str, overrides: Mapping[str, Override] | None = None) -> Limiter | None:
    """The process's one limiter of `action` in `region` (None: the action is not limited); a configured part of
    its limit replaces that part of the default."""
    if action not in DOCUMENTED:
        return None
    with _REGISTRY_LOCK:
        key = (action, region)
        if key not in _LIMITERS:
            default = default_limit(action, region)
            bucket, refill = (overrides or {}).get(action, (None, None))
            _LIMITERS[key] = Limiter(Quota(bucket or default.bucket, refill or default.refill))
        return _LIMITERS[key]
