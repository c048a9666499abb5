"""The room's database: an SQLAlchemy engine and a schema that migrates itself, one numbered step at a time.

SQLite by default, one file at PLAYGROUND_DB (a path, or any SQLAlchemy URL: `postgresql://...` lets several
replicas share one room). SQLite runs in WAL mode, so readers (the tally) never wait for the writer (an answer).

    engine = connect()            # PLAYGROUND_DB or DEFAULT_PATH; migrated to the latest version
    version(engine)               # the schema version it holds
"""

import contextlib
import os
import threading
from pathlib import Path

import sqlalchemy as sa

from generators.room import BUCKET

DEFAULT_PATH = Path(__file__).resolve().parents[2] / ".data" / "playground.sqlite3"  # .data/ is git-ignored
BUSY_MS = 10_000  # how long an SQLite writer waits for another's lock before failing

meta = sa.MetaData()
schema_version = sa.Table("schema_version", meta, sa.Column("version", sa.Integer, nullable=False))

# Version 1: a round and its answer.
rounds = sa.Table(
    "rounds", meta,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),  # "digits" or "text"
    sa.Column("seed", sa.BigInteger, nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False),  # sha256 of the token; the token itself is never kept
    sa.Column("contents", sa.Text, nullable=False),  # JSON: [{"family", "real", "detectors": {name: marked real}}]
    sa.Column("issued_at", sa.Float, nullable=False),  # unix seconds
    sa.Column("answered_at", sa.Float, nullable=True, index=True),  # NULL until answered; set once
    sa.Column("session", sa.String(64), nullable=True),
    sa.Column("client", sa.String(64), nullable=True),
)
guesses = sa.Table(
    "guesses", meta,
    sa.Column("round_id", sa.String(32), sa.ForeignKey("rounds.id"), primary_key=True),
    sa.Column("marks", sa.Text, nullable=False),  # JSON list of booleans, true = marked real
    sa.Column("score", sa.Integer, nullable=False),  # items marked right
    sa.Column("at", sa.Float, nullable=False, index=True),
)
# Version 2: one row per answered item (the tallies by family are a GROUP BY) and the receipts of generations.
answers = sa.Table(
    "answers", meta,
    sa.Column("round_id", sa.String(32), sa.ForeignKey("rounds.id"), primary_key=True),
    sa.Column("idx", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("family", sa.String(32), nullable=False),  # "real", "gan", "vae", "diffusion", ...
    sa.Column("real", sa.Boolean, nullable=False),
    sa.Column("human", sa.Boolean, nullable=False),  # the person marked it real
    sa.Column("discriminator", sa.Boolean, nullable=True),  # each detector marked it real (NULL: not applicable)
    sa.Column("classifier", sa.Boolean, nullable=True),
    sa.Column("perplexity", sa.Boolean, nullable=True),
    sa.Column("at", sa.Float, nullable=False, index=True),
)
receipts = sa.Table(
    "receipts", meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("what", sa.String(32), nullable=False),  # the endpoint that generated
    sa.Column("wall_s", sa.Float, nullable=False),
    sa.Column("cpu_s", sa.Float, nullable=False),
    sa.Column("joules", sa.Float, nullable=False),
    sa.Column("co2_g", sa.Float, nullable=False),
    sa.Column("at", sa.Float, nullable=False, index=True),
)
DETECTORS = ("discriminator", "classifier", "perplexity")
# Version 3: running totals, bumped in the transaction that answers a round (or keeps receipts), so reading the tally
# is a read of a few rows however many rounds were played (a GROUP BY over `answers` grew with every round); and
# rounds found by (kind, seed, client), to tell a round someone already saw the truth of (store.answer).
COUNTS = ("items", "human", *(f"{d}_{x}" for d in DETECTORS for x in ("n", "right")))  # n: items it marked


def _counts() -> list[sa.Column]:
    return [sa.Column(c, sa.BigInteger, nullable=False, server_default="0") for c in COUNTS]


round_totals = sa.Table("round_totals", meta, sa.Column("kind", sa.String(16), primary_key=True),
                        sa.Column("rounds", sa.BigInteger, nullable=False, server_default="0"))
tallies = sa.Table("tallies", meta, sa.Column("kind", sa.String(16), primary_key=True),
                   sa.Column("family", sa.String(32), primary_key=True), *_counts())
steps = sa.Table("steps", meta, sa.Column("start", sa.BigInteger, primary_key=True),  # unix s, a multiple of BUCKET
                 sa.Column("kind", sa.String(16), primary_key=True), *_counts())
energy_totals = sa.Table("energy_totals", meta, sa.Column("id", sa.Integer, primary_key=True),  # one row, id 1
                         sa.Column("receipts", sa.BigInteger, nullable=False, server_default="0"),
                         *(sa.Column(c, sa.Float, nullable=False, server_default="0")
                           for c in ("wall_s", "cpu_s", "joules", "co2_g")))
seen_index = sa.Index("ix_rounds_kind_seed_client", rounds.c.kind, rounds.c.seed, rounds.c.client)
TABLES = {1: (rounds, guesses), 2: (answers, receipts), 3: (round_totals, tallies, steps, energy_totals)}


def _v2_backfill(conn) -> None:
    """Version 1 kept each round's items as JSON beside its guess: spread the answered ones into `answers`."""
    import json
    rows = conn.execute(sa.select(rounds.c.id, rounds.c.kind, rounds.c.contents, guesses.c.marks, guesses.c.at)
                        .join(guesses, guesses.c.round_id == rounds.c.id)).all()
    for rid, kind, items, marks, at in rows:
        conn.execute(answers.insert(), item_rows(rid, kind, json.loads(items), json.loads(marks), at))


def item_rows(round_id: str, kind: str, items: list[dict], marks: list[bool], at: float) -> list[dict]:
    """The `answers` rows of one answered round."""
    return [dict(round_id=round_id, idx=i, kind=kind, family=item["family"], real=item["real"], human=bool(mark),
                 at=at, **{d: item.get("detectors", {}).get(d) for d in DETECTORS})
            for i, (item, mark) in enumerate(zip(items, marks))]


def item_counts(item: dict, human: bool) -> dict[str, int]:
    """One answered item's increments of COUNTS."""
    out = dict(items=1, human=int(bool(human) == item["real"]))
    for d in DETECTORS:
        mark = item.get("detectors", {}).get(d)
        out[f"{d}_n"], out[f"{d}_right"] = int(mark is not None), int(mark is not None and mark == item["real"])
    return out


def bump(conn, table: sa.Table, key: dict, add: dict) -> None:
    """Adds `add` to the row at `key`, made if missing (INSERT ... ON CONFLICT DO UPDATE: SQLite and PostgreSQL)."""
    from sqlalchemy.dialects import postgresql, sqlite
    insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)
    conn.execute(insert.values(**key, **add).on_conflict_do_update(
        index_elements=list(key), set_={c: table.c[c] + insert.excluded[c] for c in add}))


def count_round(conn, kind: str, items: list[dict], marks: list[bool], at: float) -> None:
    """An answered round into the running totals. Keys in sorted order, so that two PostgreSQL transactions
    bumping the same rows take their locks in one order (no deadlock)."""
    by_family: dict[str, dict] = {}
    for item, mark in zip(items, marks):
        counts = item_counts(item, mark)
        total = by_family.setdefault(item["family"], dict.fromkeys(COUNTS, 0))
        for c in COUNTS:
            total[c] += counts[c]
    bump(conn, round_totals, dict(kind=kind), dict(rounds=1))
    for family in sorted(by_family):
        bump(conn, tallies, dict(kind=kind, family=family), by_family[family])
    whole = {c: sum(f[c] for f in by_family.values()) for c in COUNTS}
    bump(conn, steps, dict(start=int(at // BUCKET * BUCKET), kind=kind), whole)


def count_receipts(conn, rows: list[dict]) -> None:
    bump(conn, energy_totals, dict(id=1), dict(receipts=len(rows), **{c: sum(r[c] for r in rows)
                                                                     for c in ("wall_s", "cpu_s", "joules", "co2_g")}))


def _v3_totals(conn) -> None:
    """The running totals of every round answered so far (from `answers`) and every receipt; the index."""
    seen_index.create(conn, checkfirst=True)  # a fresh database made it with `rounds` (version 1)
    a = answers.c
    rows = conn.execute(sa.select(a.round_id, a.kind, a.family, a.real, a.human, a.at, *(a[d] for d in DETECTORS))
                        .order_by(a.round_id, a.idx)).all()
    by_round: dict[str, list] = {}
    for r in rows:
        by_round.setdefault(r.round_id, []).append(r)
    for rows in by_round.values():
        items = [dict(family=r.family, real=r.real, detectors={d: getattr(r, d) for d in DETECTORS}) for r in rows]
        count_round(conn, rows[0].kind, items, [r.human for r in rows], rows[0].at)
    kept = [dict(r._mapping) for r in conn.execute(sa.select(receipts.c.wall_s, receipts.c.cpu_s, receipts.c.joules,
                                                               receipts.c.co2_g))]
    if kept:
        count_receipts(conn, kept)


MIGRATIONS = {1: None, 2: _v2_backfill, 3: _v3_totals}  # version -> data step after its tables are created
LATEST = max(MIGRATIONS)


def url_from(value: str | None) -> str:
    """An SQLAlchemy URL from PLAYGROUND_DB's value: a URL as it is (postgresql:// -> the psycopg 3 driver), a
    path as an SQLite file (its folder made), None or "" as DEFAULT_PATH."""
    if value and "://" in value:
        return "postgresql+psycopg://" + value.split("://", 1)[1] if value.startswith(("postgresql://",
                                                                                      "postgres://")) else value
    path = Path(value) if value else DEFAULT_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    dbapi_conn.isolation_level = None  # SQLAlchemy's recipe: pysqlite leaves BEGIN to us (below), DDL included
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={BUSY_MS}")
    cur.execute("PRAGMA synchronous=NORMAL")  # in WAL mode a commit survives a process kill; fsync at checkpoints
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _sqlite_begin(conn) -> None:
    """A writer that asks for it (execution option immediate=True) takes the write lock at BEGIN, so two writers
    never both read first and then fail to upgrade their locks; readers begin deferred and never wait (WAL)."""
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("immediate") else "BEGIN")


_writers: dict[str, threading.Lock] = {}  # SQLite file -> this process's writers, one at a time


@contextlib.contextmanager
def writing(engine: sa.Engine):
    """A transaction that will write: `with writing(engine) as conn:` (BEGIN IMMEDIATE on SQLite).

    On SQLite, this process's writers also queue on a lock first: SQLite's busy handler makes a waiting writer
    sleep and retry, and among 32 threads writing at once some slept past the 10 s timeout ("database is locked",
    bench/bench_room.py) while others got in. Other processes still wait through the busy handler."""
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            yield conn
        return
    with _writers.setdefault(str(engine.url), threading.Lock()), \
            engine.execution_options(immediate=True).begin() as conn:
        yield conn


def connect(value: str | None = None, *, migrate: bool = True, upto: int = LATEST) -> sa.Engine:
    """The engine for PLAYGROUND_DB (or `value`), its schema migrated to `upto` (tests stop at older versions)."""
    url = url_from(value if value is not None else os.environ.get("PLAYGROUND_DB"))
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": BUSY_MS / 1000, "check_same_thread": False},
                                  pool_size=8, max_overflow=32)
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        sa.event.listen(engine, "begin", _sqlite_begin)
    else:
        engine = sa.create_engine(url, pool_size=8, max_overflow=32, pool_pre_ping=True)
    if migrate:
        upgrade(engine, upto)
    return engine


def version(engine: sa.Engine) -> int:
    """The schema version the database holds (0: empty)."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("schema_version"):
            return 0
        return conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar() or 0


def upgrade(engine: sa.Engine, upto: int = LATEST) -> int:
    """Applies each missing version in order, each in one transaction with its version row (so a crash leaves the
    database at a whole version); replicas starting at once are serialised by a lock. Returns the version."""
    with writing(engine) as conn:  # SQLite: one migrator at a time by its write lock
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(30030)"))  # one migrator at a time
        schema_version.create(conn, checkfirst=True)
        have = conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar() or 0
        for v in range(have + 1, upto + 1):
            for table in TABLES[v]:
                table.create(conn, checkfirst=True)
            if MIGRATIONS[v]:
                MIGRATIONS[v](conn)
            conn.execute(schema_version.insert().values(version=v))
        return max(have, upto)
