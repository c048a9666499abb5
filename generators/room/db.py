"""The room's database: an SQLAlchemy engine and a schema that migrates itself, one numbered step at a time.

SQLite by default, one file at PLAYGROUND_DB (a path, or any SQLAlchemy URL: `postgresql://...` lets several
replicas share one room). SQLite runs in WAL mode, so readers (the tally) never wait for the writer (an answer).

    engine = connect()            # PLAYGROUND_DB or DEFAULT_PATH; migrated to the latest version
    version(engine)               # the schema version it holds
"""

import os
from pathlib import Path

import sqlalchemy as sa

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
# Version 3: rounds found by (kind, seed, client), to tell a round someone already saw the truth of (store.answer).
seen_index = sa.Index("ix_rounds_kind_seed_client", rounds.c.kind, rounds.c.seed, rounds.c.client)
DETECTORS = ("discriminator", "classifier", "perplexity")
TABLES = {1: (rounds, guesses), 2: (answers, receipts), 3: ()}


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


def _v3_index(conn) -> None:
    seen_index.create(conn, checkfirst=True)  # a fresh database made it with `rounds` (version 1)


MIGRATIONS = {1: None, 2: _v2_backfill, 3: _v3_index}  # version -> data step after its tables are created
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


def writing(engine: sa.Engine):
    """A transaction that will write: `with writing(engine) as conn:` (BEGIN IMMEDIATE on SQLite)."""
    return engine.execution_options(immediate=True).begin()


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
