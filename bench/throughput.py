"""
Throughput on a real socket: WhatsApp sends through the full resilience pipeline versus bare httpx.

Both send the same Cloud API requests (20,000 at concurrency 64 by default) to one
`WhatsAppSimulator` served by uvicorn in its own process, over one identically configured
`httpx.AsyncClient`, interleaved in chunks within one run. The adapter path adds what a
Portico user gets: payload building, the error mapping, `ResilientMessaging` with retry, breaker,
bulkhead (64), rate limiter (raised so it never binds) and per-attempt timeout. Reported:
requests/s over all chunks, the ratio (target >= 0.9) overall and as the median of back-to-back
chunk pairs (robust to a noisy neighbour), and client CPU per request. Both sides are bound by
httpx's connection pool, so one extra profiled chunk splits the Portico contender's CPU by where
it goes (Portico's own modules, httpx/httpcore/h11, asyncio, the rest): the "portico's own code"
line is the figure that measures Portico.

Run: ``.venv/bin/python -m bench.throughput`` (``BENCH_SENDS`` and ``BENCH_ROUNDS`` override).
"""

from __future__ import annotations

import asyncio
import cProfile
import os
import pstats
import statistics
import time
from collections.abc import Awaitable, Callable

import httpx
from tests.simulators.whatsapp import WhatsAppSimulator

import portico as portico_package
from bench._common import header, ratio, uvicorn_process
from portico.adapters.http.client import DEFAULT_TIMEOUT, build_client
from portico.adapters.resilience import ResilientMessaging, build_pipeline
from portico.adapters.whatsapp import WhatsAppMessaging, meta_cloud
from portico.adapters.whatsapp.spec import SPEC as WHATSAPP
from portico.domain.messaging import TextMessage


SENDS = int(os.environ.get("BENCH_SENDS", "20000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "8"))
CONCURRENCY = 64
TOKEN = "EAAG-bench-token"  # noqa: S105 - the simulator's throwaway token
PHONE_ID = "106540352242922"


def simulator_app() -> WhatsAppSimulator:
    """The uvicorn factory: Meta's Cloud API, in memory."""
    return WhatsAppSimulator(token=TOKEN, phone_number_id=PHONE_ID)


def same_client(url: str) -> httpx.AsyncClient:
    """The client both contenders use: a pool as wide as the concurrency."""
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    return httpx.AsyncClient(base_url=url, timeout=DEFAULT_TIMEOUT, limits=limits)


async def drive(send: Callable[[int], Awaitable[object]], count: int) -> tuple[float, float]:
    """Run ``count`` sends on ``CONCURRENCY`` workers; (requests/s, client CPU µs/request)."""
    per_worker = count // CONCURRENCY

    async def worker(w: int) -> None:
        for i in range(per_worker):
            await send(w * per_worker + i)

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(CONCURRENCY)))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    done = per_worker * CONCURRENCY
    return done / wall, cpu / done * 1e6


def bare(http: httpx.AsyncClient) -> Callable[[int], Awaitable[object]]:
    """What a user would write by hand: POST the JSON, raise on error, read the wamid."""
    path = f"/v23.0/{PHONE_ID}/messages"
    headers = {"Authorization": f"Bearer {TOKEN}"}

    async def send(n: int) -> object:
        body = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": f"4071{n % 1000000:07d}",
            "type": "text",
            "text": {"preview_url": False, "body": f"Reminder {n}"},
        }
        response = await http.post(path, json=body, headers=headers)
        response.raise_for_status()
        return response.json()["messages"][0]["id"]

    return send


def portico(http: httpx.AsyncClient) -> Callable[[int], Awaitable[object]]:
    """The adapter behind the whole pipeline (limiter raised so it never binds)."""
    adapter = WhatsAppMessaging(
        http=http, credential=TOKEN, flavour=meta_cloud(), phone_number_id=PHONE_ID
    )
    policy = WHATSAPP.policy.with_overrides(
        {"rate": 1e9, "burst": 10_000, "max_concurrent": CONCURRENCY}
    )
    port = ResilientMessaging(adapter, build_pipeline("whatsapp", policy))

    async def send(n: int) -> object:
        return await port.send(TextMessage(f"+4071{n % 1000000:07d}", f"Reminder {n}"))

    return send


async def measure(url: str) -> dict[str, list[tuple[float, float]]]:
    """Warm up, then interleave the contenders chunk by chunk so drift hits both alike."""
    results: dict[str, list[tuple[float, float]]] = {"bare": [], "portico": [], "defaults": []}
    chunk = SENDS // ROUNDS
    async with same_client(url) as http:
        contenders = {"bare": bare(http), "portico": portico(http)}
        for send in contenders.values():
            await drive(send, 1024)
        for round_ in range(ROUNDS):
            order = list(contenders.items())
            for name, send in order if round_ % 2 == 0 else order[::-1]:
                results[name].append(await drive(send, chunk))
    # The adapter on the client `build_client` makes by default (keep-alive pool of 20).
    async with build_client(url) as defaults:
        results["defaults"].append(await drive(portico(defaults), chunk))
    return results


async def cpu_split(url: str, count: int) -> dict[str, float]:
    """
    Client CPU per request of the Portico contender, split by where it is spent: Portico's own
    modules, httpx + httpcore (the connection pool, h11), asyncio, and the rest. One profiled
    chunk (cProfile's own overhead inflates every share alike, so only shares are used, applied
    to the unprofiled CPU per request).
    """
    async with same_client(url) as http:
        send = portico(http)
        await drive(send, 256)
        profile = cProfile.Profile()
        profile.enable()
        await drive(send, count)
        profile.disable()
    buckets = dict.fromkeys(("portico", "httpx+httpcore+h11", "asyncio", _OTHER), 0.0)
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    for (filename, _, _), (_, _, tottime, _, _) in stats.items():
        buckets[_bucket(filename)] += tottime
    total = sum(buckets.values()) or 1.0
    return {name: seconds / total for name, seconds in buckets.items()}


_OTHER = "other (C builtins, json, attrs)"
_PORTICO = os.path.dirname(os.path.abspath(portico_package.__file__)) + os.sep
_POOL = tuple(f"{os.sep}{lib}{os.sep}" for lib in ("httpx", "httpcore", "h11", "anyio", "sniffio"))


def _bucket(filename: str) -> str:
    if os.path.abspath(filename).startswith(_PORTICO):
        return "portico"
    if any(part in filename for part in _POOL):
        return "httpx+httpcore+h11"
    if f"{os.sep}asyncio{os.sep}" in filename:
        return "asyncio"
    return _OTHER


def overall(rounds: list[tuple[float, float]], chunk: int) -> tuple[float, float]:
    """Requests/s over all chunks together, and the mean client CPU per request."""
    seconds = sum(chunk / rate for rate, _ in rounds)
    return len(rounds) * chunk / seconds, sum(cpu for _, cpu in rounds) / len(rounds)


def main() -> None:
    """Measure and print the report."""
    print(header("throughput: WhatsApp sends over loopback", ["uvicorn", "h11", "attrs"]))
    print(
        f"{SENDS:,} sends each, concurrency {CONCURRENCY}, interleaved in {ROUNDS} chunks; "
        "simulator in its own uvicorn process (h11)"
    )
    with uvicorn_process("bench.throughput:simulator_app") as url:
        results = asyncio.run(measure(url))
        split = asyncio.run(cpu_split(url, SENDS // ROUNDS))
    chunk = SENDS // ROUNDS
    best = {name: overall(rounds, chunk) for name, rounds in results.items()}
    for name, label in (
        ("bare", "bare httpx"),
        ("portico", "portico (full pipeline)"),
        ("defaults", "portico, build_client pool"),
    ):
        rate, cpu = best[name]
        chunks = ", ".join(f"{r:,.0f}" for r, _ in results[name])
        print(f"  {label:<28}{rate:9,.0f} req/s  {cpu:6.0f} µs client CPU/req  chunks: {chunks}")
    print(ratio("portico / bare httpx (req/s)", best["portico"][0], best["bare"][0], target=0.9))
    pairs = sorted(
        p / b for (p, _), (b, _) in zip(results["portico"], results["bare"], strict=True)
    )
    print(
        f"median of the {ROUNDS} paired chunk ratios: {statistics.median(pairs):.2f} "
        f"(range {pairs[0]:.2f}..{pairs[-1]:.2f}; pairs ran back to back, so drift cancels)"
    )
    extra = best["portico"][1] - best["bare"][1]
    print(
        f"client CPU per request: portico {best['portico'][1]:.0f} µs vs bare "
        f"{best['bare'][1]:.0f} µs ({extra:+.0f} µs)"
    )
    cpu = best["portico"][1]
    print(
        "portico contender's client CPU by where it goes (one profiled chunk, shares applied "
        f"to {cpu:.0f} µs/req):"
    )
    for name, share in sorted(split.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<34}{share:6.1%}  {share * cpu:7.0f} µs/req")
    print(f"portico's own code: {split['portico'] * cpu:.0f} µs/req of client CPU")


if __name__ == "__main__":
    main()
