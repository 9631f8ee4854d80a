"""
Relay drain rate on PostgreSQL (issue 14): 1, 2 and 4 `portico relay` processes against a bare
skip-locked loop with the same number of processes, in the same run.

Both sides drain the same backlog of WhatsApp template sends (distinct recipients) into one
`WhatsAppSimulator` served by uvicorn in its own process on loopback. Each side's workers are
real processes:

- Portico: ``portico relay --until-idle`` with the WhatsApp adapter in its full resilience
  pipeline (rate limit raised so it never binds), on a `PostgresOutbox` in a private database.
- Bare: a loop that claims 32 rows with ``UPDATE ... WHERE seq IN (SELECT ... ORDER BY seq LIMIT
  32 FOR UPDATE SKIP LOCKED) RETURNING``, POSTs them concurrently over one httpx client and marks
  the batch delivered in one ``UPDATE``: the least a skip-locked outbox relay can do. It keeps no
  per-recipient order, no lease check, no retries and no breaker.

The rate is measured between the first and the last delivery (``finished_at`` in each table), so
process start-up, imports and the container's checks are not counted on either side. Reported:
commands/s for each, their ratio (target >= 0.9) per process count, and whether every command was
delivered exactly once (each side's table and the simulator's count).

Run: ``.venv/bin/python -m bench.relay_drain`` (``BENCH_RELAY_COMMANDS``, default 3,000, and
``BENCH_RELAY_PROCESSES``, default ``1,2,4``). PostgreSQL comes from ``PORTICO_POSTGRES_URL``
(default ``postgresql://postgres@127.0.0.1:5432/postgres``); without a server it says so and exits
with an error, as a missing peer must not pass silently.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import uuid

import httpx

from bench._common import ROOT, header, ratio, uvicorn_process
from bench.throughput import PHONE_ID, TOKEN


COMMANDS = int(os.environ.get("BENCH_RELAY_COMMANDS", "3000"))
PROCESSES = tuple(int(n) for n in os.environ.get("BENCH_RELAY_PROCESSES", "1,2,4").split(","))
PG_URL = os.environ.get("PORTICO_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
BATCH = 32
TARGET = 0.9
GRAPH = "v23.0"


def _recipient(i: int) -> str:
    return f"+40712{i:06d}"


# ---------------------------------------------------------------- the bare loop


def _bare_body(i: int) -> str:
    """The Cloud API body of a template send, as the adapter builds it (`message_payload`)."""
    from portico.adapters.whatsapp.adapter import message_payload
    from portico.domain.messaging import TemplateMessage

    return json.dumps(message_payload(TemplateMessage(_recipient(i), "hello_world", "en")))


async def bare_worker(db: str, table: str, sim: str) -> None:
    """One bare relay process: claim, send concurrently, mark delivered, until nothing is left."""
    import psycopg

    claim = (
        f"UPDATE {table} SET state = 'leased' WHERE seq IN (SELECT seq FROM {table} "  # noqa: S608
        f"WHERE state = 'pending' ORDER BY seq LIMIT {BATCH} FOR UPDATE SKIP LOCKED) "
        "RETURNING seq, payload"
    )
    done = (
        f"UPDATE {table} SET state = 'delivered', "  # noqa: S608
        "finished_at = extract(epoch from clock_timestamp()) WHERE seq = ANY(%s)"
    )
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=BATCH, max_keepalive_connections=BATCH)
    path = f"/{GRAPH}/{PHONE_ID}/messages"
    async with (
        await psycopg.AsyncConnection.connect(db, autocommit=True) as conn,
        httpx.AsyncClient(base_url=sim, limits=limits, timeout=10.0) as client,
    ):

        async def send(seq: int, payload: str) -> int:
            response = await client.post(path, content=payload, headers=headers)
            response.raise_for_status()
            return seq

        while True:
            rows = await (await conn.execute(claim)).fetchall()
            if not rows:
                return
            sent = await asyncio.gather(*(send(s, p) for s, p in rows))
            await conn.execute(done, (list(sent),))


async def _bare_fill(db: str, table: str) -> None:
    import psycopg

    async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn:
        await conn.execute(
            f"CREATE TABLE {table} (seq BIGSERIAL PRIMARY KEY, payload TEXT NOT NULL, "
            "state TEXT NOT NULL, finished_at DOUBLE PRECISION)"
        )
        await conn.execute(f"CREATE INDEX ON {table} (seq) WHERE state = 'pending'")
        async with (
            conn.cursor() as cur,
            cur.copy(f"COPY {table} (payload, state) FROM STDIN") as copy,
        ):
            for i in range(COMMANDS):
                await copy.write_row((_bare_body(i), "pending"))
        await conn.execute(f"VACUUM ANALYZE {table}")


# ---------------------------------------------------------------- Portico's relay


async def _outbox_fill(db: str, table: str) -> None:
    from portico.adapters.outbox.postgres import PostgresOutbox
    from portico.domain.commands import SendMessage
    from portico.domain.messaging import TemplateMessage

    box = PostgresOutbox(db, table=table)
    try:
        for i in range(COMMANDS):
            await box.enqueue(SendMessage(TemplateMessage(_recipient(i), "hello_world", "en")))
    finally:
        await box.close()
    import psycopg

    async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn:
        await conn.execute(f"VACUUM ANALYZE {table}")


def _relay_env(db: str, table: str, sim: str, data_dir: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PORTICO_ENVIRONMENT": "sandbox",
        # The WhatsApp statuses the relays record (SQLite, shared by the run's processes) go to
        # a folder of this run: not the repository's root, not a file grown by earlier runs.
        "PORTICO_DATA_DIR": data_dir,
        "PORTICO_MESSAGING__PROVIDER": "whatsapp",
        "PORTICO_CRM__PROVIDER": "none",
        "PORTICO_PAYMENTS__PROVIDER": "none",
        "PORTICO_VOICE__PROVIDER": "none",
        "PORTICO_EMAIL__PROVIDER": "none",
        "PORTICO_WHATSAPP__TOKEN": TOKEN,
        "PORTICO_WHATSAPP__PHONE_NUMBER_ID": PHONE_ID,
        "PORTICO_WHATSAPP__BASE_URL": sim,
        "PORTICO_WEBHOOKS__WHATSAPP__APP_SECRET": "bench-app-secret-" + uuid.uuid4().hex,
        "PORTICO_OUTBOX__KIND": "postgres",
        "PORTICO_OUTBOX__POSTGRES_URL": db,
        "PORTICO_OUTBOX__TABLE": table,
        "PORTICO_RESILIENCE__WHATSAPP__RATE": "1000000",
        "PORTICO_RESILIENCE__WHATSAPP__BURST": "1000000",
        "PORTICO_RESILIENCE__WHATSAPP__MAX_CONCURRENT": "64",
    }


# ---------------------------------------------------------------- the run


def _run(commands: list[list[str]], env: dict[str, str]) -> None:
    procs = [
        subprocess.Popen(c, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for c in commands
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        if proc.returncode != 0:
            msg = f"worker exited {proc.returncode}: {err.decode(errors='replace')[-800:]}"
            raise RuntimeError(msg)


async def _rate(db: str, table: str) -> tuple[float, int]:
    """Deliveries per second between the first and the last delivery; how many were delivered."""
    import psycopg

    async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn:
        row = await (
            await conn.execute(
                f"SELECT count(*), min(finished_at), max(finished_at) FROM {table} "  # noqa: S608
                "WHERE state = 'delivered'"
            )
        ).fetchone()
    assert row is not None
    count, first, last = int(row[0]), row[1], row[2]
    if count < 2 or last <= first:
        return 0.0, count
    return (count - 1) / (last - first), count


def _database() -> str:
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True, connect_timeout=5) as conn:
        name = f"portico_bench_{uuid.uuid4().hex[:8]}"
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{PG_URL.rpartition('/')[0]}/{name}"


def _drop(url: str) -> None:
    import psycopg

    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.rpartition("/")[2]}" WITH (FORCE)')


def main() -> int:
    print(header("relay drain rate on PostgreSQL: portico relay vs a bare skip-locked loop",
                 ["psycopg", "uvicorn"]))  # fmt: skip
    print(f"{COMMANDS:,} WhatsApp template sends per side, distinct recipients, batch {BATCH}")
    try:
        db = _database()
    except Exception as err:  # reported, and the run fails
        print(f"PostgreSQL unavailable ({type(err).__name__}): no rows measured")
        return 1
    ok = True
    try:
        with uvicorn_process("bench.throughput:simulator_app") as sim:
            for n in PROCESSES:
                bare_table, box_table = f"bare_{n}_{uuid.uuid4().hex[:6]}", f"o_{n}"
                asyncio.run(_bare_fill(db, bare_table))
                asyncio.run(_outbox_fill(db, box_table))
                bare_cmd = [sys.executable, "-m", "bench.relay_drain", "--bare", db, bare_table]
                bare_cmd.append(sim)
                _run([bare_cmd] * n, {**os.environ, "PYTHONPATH": str(ROOT)})
                relay_cmd = [sys.executable, "-m", "portico", "relay", "--until-idle"]
                with tempfile.TemporaryDirectory(prefix="portico-drain-") as data_dir:
                    _run([relay_cmd] * n, _relay_env(db, box_table, sim, data_dir))
                bare, bare_count = asyncio.run(_rate(db, bare_table))
                ours, our_count = asyncio.run(_rate(db, box_table))
                line = ratio(f"{n} process(es), commands/s", ours, bare, target=TARGET)
                exact = bare_count == COMMANDS and our_count == COMMANDS
                print(f"{line}; delivered {our_count:,} / {bare_count:,} of {COMMANDS:,}"
                      f"{'' if exact else '  (NOT ALL DELIVERED)'}")  # fmt: skip
                ok = ok and exact and bare > 0 and ours / bare >= TARGET
    finally:
        _drop(db)
    print("PASS" if ok else "MISS")
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--bare":
        asyncio.run(bare_worker(*sys.argv[2:5]))
        sys.exit(0)
    sys.exit(main())
