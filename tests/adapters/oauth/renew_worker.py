"""
One process of the two-process renewal proof: wait for the start signal, then ask for a token
from 50 tasks at once through a Redis token store, and print the tokens it got as JSON.

Run as ``python -m tests.adapters.oauth.renew_worker TOKEN_URL REDIS_URL PREFIX START_FILE``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from tests.simulators.oauth import CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN

from portico.adapters.oauth import CachedTokenProvider, RedisTokenStore, RefreshTokenGrant


async def main(token_url: str, redis_url: str, prefix: str, start: Path) -> None:
    """Renew through the shared store once the start file exists; print the tokens seen."""
    grant = RefreshTokenGrant(
        integration="hubspot",
        token_url=token_url,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        refresh_token=REFRESH_TOKEN,
    )
    provider = CachedTokenProvider(
        grant, key="hubspot:proof", store=RedisTokenStore(redis_url, prefix=prefix)
    )
    deadline = time.monotonic() + 30
    while not start.exists() and time.monotonic() < deadline:
        await asyncio.sleep(0.005)
    tokens = await asyncio.gather(*(provider.token() for _ in range(50)))
    result = {"tokens": sorted({t.value for t in tokens}), "requests": grant.requests}
    sys.stdout.write(json.dumps(result) + "\n")
    await provider.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4])))
