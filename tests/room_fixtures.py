"""The databases the room's tests run against: a fresh SQLite file, and a real PostgreSQL from the `pgserver` wheel
(started once for the session; the tests that need it are skipped, with the reason, where it cannot start)."""

import json
import multiprocessing
import os
import random

import pytest

from generators.room import db
from generators.room.limiter import Allowance
from generators.room.store import ITEMS, RoomStore

FAMILIES = ("real", "gan", "vae", "diffusion")
WIDE = Allowance(per_session=10**6, per_address=10**6)  # for tests that are not about the limit


def items(seed: int) -> list[dict]:
    """A round's records: a family per item, truth from the family, detectors' marks from the seed."""
    rng = random.Random(seed)
    fams = ["real", "real"] + [rng.choice(FAMILIES[1:]) for _ in range(ITEMS - 2)]
    return [dict(family=f, real=f == "real", detectors=dict(discriminator=rng.random() < 0.5,
                                                             classifier=rng.random() < 0.5)) for f in fams]


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory):
    """A PostgreSQL URL from a server this test session starts (pgserver), or a skip saying why not."""
    try:
        import pgserver
    except ImportError:
        pytest.skip("pgserver is not installed (pip install -r requirements-test.txt)")
    try:
        server = pgserver.get_server(tmp_path_factory.mktemp("pg"), cleanup_mode="stop")
    except Exception as e:  # noqa: BLE001 - any start failure is a reason to skip, stated
        pytest.skip(f"PostgreSQL could not start: {e}")
    yield server.get_uri()
    server.cleanup()


@pytest.fixture
def url(request, tmp_path):
    """A fresh database URL: SQLite, or (param "postgres") a fresh database on the session's PostgreSQL."""
    if request.param == "sqlite":
        return str(tmp_path / "room.sqlite3")
    base = request.getfixturevalue("postgres_url")
    import sqlalchemy as sa
    name = f"room_{os.getpid()}_{random.randrange(10**9)}"
    admin = sa.create_engine(db.url_from(base), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    admin.dispose()
    head, _, tail = base.partition("/postgres?")
    return f"{head}/{name}?{tail}"


def answer_many(url: str, n: int, seed: int) -> int:
    """In a process of its own: issues and answers n rounds; the sum of the accepted scores."""
    store = RoomStore(db.connect(url), answers=WIDE, rounds=WIDE)
    total = 0
    for i in range(n):
        issued = store.issue("digits", seed + i, items(seed + i), session=f"p{seed}", address="1.1.1.1")
        total += store.answer(issued.round_id, issued.token, json.dumps([True] * ITEMS), session=f"p{seed}",
                              address="1.1.1.1")["score"]
    return total


def in_processes(url: str, workers: int, n: int) -> list[int]:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(workers) as pool:
        return pool.starmap(answer_many, [(url, n, 1000 * w) for w in range(workers)])
