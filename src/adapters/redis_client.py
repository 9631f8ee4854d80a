"""
A Redis client for calls that must fail fast: short socket timeouts and no retries.

The shared rate limiter (`adapters.resilience.SharedRateLimiter`) asks Redis once per vendor call;
when Redis is away it must learn so in a fraction of a second and fall back to its local limit,
not hang a caller for redis-py's defaults (5 s socket timeouts, retries with a one-second
backoff). The URL may carry a password: nothing here logs or shows it.
"""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff


__all__ = ["fail_fast_client"]


def fail_fast_client(url: str, *, timeout: float = 0.25, max_connections: int = 50) -> Redis:
    """
    A client of ``url`` whose every wait (connect, read, a free pooled connection) ends within
    ``timeout`` seconds, with no retry: one failed command costs at most ``timeout``.
    Closing the client (``aclose``) closes its pool.
    """
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=timeout,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )
    return Redis.from_pool(pool)  # the client owns the pool: `aclose` closes both
