"""
Throughput on a real socket: WhatsApp sends through the full resilience pipeline versus bare httpx.

Both send the same Cloud API requests (20,000 at concurrency 64 by default) to one
`WhatsAppSimulator` served by uvicorn in its own process, over one identically configured
`httpx.AsyncClient`, interleaved in chunks within one run. The adapter path adds what a
Portico user gets: payload building, the error mapping, `ResilientMessaging` with retry, breaker,
bulkhead (64), rate limiter (raised so it never binds) and per-attempt timeout. Reported:
requests/s over all chunks, the ratio (target >= 0.9) overall and as the median of back-to-back
chunk pairs (robust to a noisy neighbour), every chunk's pair side by side, and client CPU per
request. Both sides are bound by httpx's connection pool, so after the timed chunks (which run
unprofiled) one profiled chunk per contender splits its CPU by where it goes (functions whose
file is in the portico package, httpx/httpcore/h11, asyncio, the rest), each share applied to
that contender's unprofiled CPU per request: "portico's own code" is the figure that measures
Portico, the pool's rows show what both pay alike.

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


async def cpu_split(
    url: str, make: Callable[[httpx.AsyncClient], Callable[[int], Awaitable[object]]], count: int
) -> dict[str, float]:
    """
    One contender's client CPU split by where it is spent: Portico's own modules, httpx +
    httpcore (the connection pool, h11), asyncio, and the rest, as shares of one profiled chunk
    (cProfile's own overhead inflates every share alike, so only shares are used, applied to the
    unprofiled CPU per request).
    """
    async with same_client(url) as http:
        send = make(http)
        await drive(send, 256)
        profile = cProfile.Profile()
        profile.enable()
        await drive(send, count)
        profile.disable()
    buckets = dict.fromkeys(BUCKETS, 0.0)
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    for (filename, _, _), (_, _, tottime, _, _) in stats.items():
        buckets[_bucket(filename)] += tottime
    total = sum(buckets.values()) or 1.0
    return {name: seconds / total for name, seconds in buckets.items()}


_OTHER = "other (C builtins, json, attrs)"
_POOL_BUCKET = "httpx+httpcore+h11"
BUCKETS = ("portico", _POOL_BUCKET, "asyncio", _OTHER)
_PORTICO = os.path.dirname(os.path.abspath(portico_package.__file__)) + os.sep
_POOL = tuple(f"{os.sep}{lib}{os.sep}" for lib in ("httpx", "httpcore", "h11", "anyio", "sniffio"))


def _bucket(filename: str) -> str:
    if os.path.abspath(filename).startswith(_PORTICO):
        return "portico"
    if any(part in filename for part in _POOL):
        return _POOL_BUCKET
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
        split = {
            name: asyncio.run(cpu_split(url, make, SENDS // ROUNDS))
            for name, make in (("bare", bare), ("portico", portico))
        }
    chunk = SENDS // ROUNDS
    best = {name: overall(rounds, chunk) for name, rounds in results.items()}
    for name, label in (
        ("bare", "bare httpx"),
        ("portico", "portico (full pipeline)"),
        ("defaults", "portico, build_client pool"),
    ):
        rate, cpu = best[name]
        print(f"  {label:<28}{rate:9,.0f} req/s  {cpu:6.0f} µs client CPU/req")
    print(ratio("portico / bare httpx (req/s)", best["portico"][0], best["bare"][0], target=0.9))
    print("chunk pairs (back to back; req/s and client CPU µs/req):")
    pairs = []
    for i, ((p, p_cpu), (b, b_cpu)) in enumerate(
        zip(results["portico"], results["bare"], strict=True), 1
    ):
        pairs.append(p / b)
        print(
            f"  chunk {i}: bare {b:7,.0f} req/s {b_cpu:6.0f} µs | "
            f"portico {p:7,.0f} req/s {p_cpu:6.0f} µs | ratio {p / b:.2f}"
        )
    pairs.sort()
    print(
        f"median of the {ROUNDS} paired chunk ratios: {statistics.median(pairs):.2f} "
        f"(range {pairs[0]:.2f}..{pairs[-1]:.2f}; pairs ran back to back, so drift cancels)"
    )
    extra = best["portico"][1] - best["bare"][1]
    print(
        f"client CPU per request: portico {best['portico'][1]:.0f} µs vs bare "
        f"{best['bare'][1]:.0f} µs ({extra:+.0f} µs)"
    )
    print(
        "client CPU by where it goes (one profiled chunk per contender after the timed ones, "
        "its shares applied to the contender's unprofiled µs/req):"
    )
    print(f"  {'':<34}{'bare httpx':>18}{'portico':>18}")
    for bucket in BUCKETS:
        cells = [
            f"{split[name][bucket]:6.1%} {split[name][bucket] * best[name][1]:6.0f} µs"
            for name in ("bare", "portico")
        ]
        print(f"  {bucket:<34}{cells[0]:>18}{cells[1]:>18}")
    own = split["portico"]["portico"] * best["portico"][1]
    pool = {name: split[name][_POOL_BUCKET] * best[name][1] for name in ("bare", "portico")}
    print(
        f"portico's own code: {own:.0f} µs/req of client CPU; the pool: "
        f"{pool['portico']:.0f} µs/req under portico vs {pool['bare']:.0f} under bare httpx"
    )


if __name__ == "__main__":
    main()
