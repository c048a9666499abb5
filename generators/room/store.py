"""Rounds issued with a one-time token, each answered once, and the room's tallies: everything in the database.

    store = RoomStore()                                        # PLAYGROUND_DB, migrated
    issued = store.issue("digits", seed, items, session="s", address="1.2.3.4")
    result = store.answer(issued.round_id, issued.token, marks, session="s", address="1.2.3.4")
    store.stats()                                              # tallies by family, the last hour, energy totals

An answer is one transaction that starts with `UPDATE rounds SET answered_at = now WHERE id = ? AND token_hash = ?
AND answered_at IS NULL`: of two answers racing with one token, exactly one changes a row, and only that one
writes its guess. The token is random (32 bytes); only its sha256 is stored, so a database reader cannot answer.
A round is the same round for the same seed (a permalink replays it), so an address that answers a seed's round
again, having seen its truth, is scored but not counted: `rounds` in the tally is the rounds that count.
"""

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

import sqlalchemy as sa

from generators.core.errors import InputError, KeyedError
from generators.room import BUCKET, BUCKETS, ITEMS, KINDS, TTL, db  # noqa: F401 - the sizes, also named here
from generators.room.limiter import Allowance, SlidingWindow


class Refused(KeyedError):
    """An answer the room will not count: unknown round, forged token, replayed token, expired round."""


@dataclass(frozen=True)
class Issued:
    round_id: str
    token: str


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def parse_marks(marks) -> list[bool]:
    """The marks as ITEMS booleans: a JSON string (the API's form) or a list; else InputError("room_marks")."""
    value = marks
    if isinstance(marks, str):
        try:
            value = json.loads(marks) if len(marks) < 1000 else None
        except ValueError:
            value = None
    if not (isinstance(value, list) and len(value) == ITEMS and all(isinstance(v, bool) for v in value)):
        raise InputError("room_marks", n=ITEMS)
    return value


class RoomStore:
    """The room's rounds, answers, tallies and receipts in one database (db.connect)."""

    def __init__(self, engine: sa.Engine | None = None, *, answers: Allowance | None = None,
                 rounds: Allowance | None = None, clock=time.time):
        self.engine = engine if engine is not None else db.connect()
        self.clock = clock
        # a person needs seconds to look at 8 digits; a script asking faster is flooding
        self.answer_limit = SlidingWindow(answers or Allowance.from_env("PLAYGROUND_ROOM_ANSWERS", 12, 240))
        self.round_limit = SlidingWindow(rounds or Allowance.from_env("PLAYGROUND_ROOM_ROUNDS", 20, 400))

    def issue(self, kind: str, seed: int, items: list[dict], *, session: str, address: str) -> Issued:
        """Stores a round whose items are [{"family", "real", "detectors": {...}}]; its id and one-time token."""
        if kind not in KINDS or len(items) != ITEMS:
            raise ValueError(f"a round is one of {KINDS} with {ITEMS} items")
        round_id, token = secrets.token_hex(16), secrets.token_urlsafe(32)
        with db.writing(self.engine) as conn:
            conn.execute(db.rounds.insert().values(id=round_id, kind=kind, seed=seed, token_hash=token_hash(token),
                                                   contents=json.dumps(items), issued_at=self.clock()))
        return Issued(round_id, token)

    def admit_round(self, session: str, address: str) -> None:
        """Raises Flooded when this session or address asks for rounds too fast (before any model runs)."""
        self.round_limit.admit(session, address, "rounds")

    def answer(self, round_id, token, marks, *, session: str, address: str) -> dict:
        """Scores the answer once: {score, truth, families, detectors, round_id, counted (False: this address had
        answered the same round before, so the tally leaves it out)}; Refused or Flooded otherwise."""
        self.answer_limit.admit(session, address, "answers")
        marks = parse_marks(marks)
        if not (isinstance(round_id, str) and isinstance(token, str) and 0 < len(round_id) <= 32
                and 0 < len(token) <= 128):
            raise Refused("room_unknown")
        now = self.clock()
        with db.writing(self.engine) as conn:
            changed = conn.execute(
                db.rounds.update()
                .where(db.rounds.c.id == round_id, db.rounds.c.token_hash == token_hash(token),
                       db.rounds.c.answered_at.is_(None), db.rounds.c.issued_at >= now - TTL)
                .values(answered_at=now, session=session[:64], client=address[:64])).rowcount
            row = conn.execute(sa.select(db.rounds.c.kind, db.rounds.c.seed, db.rounds.c.contents, db.rounds.c.token_hash,
                                         db.rounds.c.answered_at, db.rounds.c.issued_at)
                               .where(db.rounds.c.id == round_id)).first()
            if changed != 1:
                raise self._why(row, token, now)
            items = json.loads(row.contents)
            score = sum(m == it["real"] for m, it in zip(marks, items))
            conn.execute(db.guesses.insert().values(round_id=round_id, marks=json.dumps(marks), score=score, at=now))
            counted = not self._seen(conn, row, round_id, address[:64])
            if counted:
                conn.execute(db.answers.insert(), db.item_rows(round_id, row.kind, items, marks, now))
        return dict(round_id=round_id, kind=row.kind, score=score, truth=[it["real"] for it in items],
                    families=[it["family"] for it in items], detectors=_detectors(items), counted=counted)

    @staticmethod
    def _seen(conn, row, round_id: str, address: str) -> bool:
        """Whether this address answered the same round (kind and seed) before: it has seen that round's truth, so
        a replay by seed would be a perfect score, not a guess. Scored, kept in `guesses`, left out of the tally.
        On PostgreSQL two such answers racing are serialised by a lock on (kind, seed, address); SQLite's writers
        already are (BEGIN IMMEDIATE)."""
        r = db.rounds.c
        if conn.dialect.name == "postgresql":
            key = int.from_bytes(hashlib.sha256(f"{row.kind}:{row.seed}:{address}".encode()).digest()[:8], "big",
                                 signed=True)
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
        return conn.execute(sa.select(sa.literal(1)).where(
            r.kind == row.kind, r.seed == row.seed, r.client == address, r.answered_at.is_not(None),
            r.id != round_id).limit(1)).first() is not None

    @staticmethod
    def _why(row, token: str, now: float) -> Refused:
        """Why an answer changed no row (read in the same transaction, after the UPDATE)."""
        if row is None:
            return Refused("room_unknown")
        if not hmac.compare_digest(row.token_hash, token_hash(token)):
            return Refused("room_forged")
        if row.answered_at is not None:
            return Refused("room_replayed")
        return Refused("room_expired", minutes=int(TTL // 60))

    def record_receipt(self, what: str, receipt) -> None:
        """Keeps a generation's receipt (generators/room/receipts.py) for the room's energy totals."""
        self.record_receipts([(what, receipt, self.clock())])

    def record_receipts(self, kept: list[tuple]) -> None:
        """Keeps many (what, receipt, unix time) in one transaction."""
        with db.writing(self.engine) as conn:
            conn.execute(db.receipts.insert(), [dict(what=w[:32], wall_s=r.wall_s, cpu_s=r.cpu_s, joules=r.joules,
                                                      co2_g=r.co2_g, at=at) for w, r, at in kept])

    def stats(self) -> dict:
        """The room's tallies: answered rounds, accuracy by family for people and each detector, the last hour in
        ten-minute steps, and the energy totals of every receipt."""
        now = self.clock()
        with self.engine.connect() as conn:
            a = db.answers.c  # a round counts where its items do (a replay by seed is answered, not counted)
            rounds = dict(conn.execute(sa.select(a.kind, sa.func.count(sa.distinct(a.round_id)))
                                       .group_by(a.kind)).all())
            families = [_tally(r) for r in conn.execute(_tally_query().group_by(db.answers.c.kind,
                                                                                db.answers.c.family))]
            hour = [_tally(r) for r in conn.execute(_hour_query(now))]
            energy = conn.execute(sa.select(sa.func.count(), *(sa.func.coalesce(sa.func.sum(db.receipts.c[k]), 0.0)
                                                              for k in ("wall_s", "cpu_s", "joules", "co2_g")))).one()
        return dict(rounds=sum(rounds.values()), rounds_by_kind=rounds, families=families,
                    last_hour=dict(bucket_s=BUCKET, buckets=hour),
                    energy=dict(receipts=int(energy[0]), **dict(zip(("wall_s", "cpu_s", "joules", "co2_g"),
                                                                   map(float, energy[1:])))),
                    at=now)


def _detectors(items: list[dict]) -> dict[str, list]:
    """Each detector's marks on the round's items (True = it took the item for real; None = not applicable)."""
    names = sorted({d for it in items for d in it.get("detectors", {})})
    return {d: [it.get("detectors", {}).get(d) for it in items] for d in names}


def _right(col) -> sa.ColumnElement:
    """1 where `col` (a mark) equals the truth, 0 where not, NULL where there is no mark."""
    return sa.case((col.is_(None), None), (col == db.answers.c.real, 1), else_=0)


def _tally_query(*extra):
    a = db.answers.c
    return sa.select(*extra, a.kind, a.family, sa.func.count(), sa.func.sum(_right(a.human)),
                     *(x for d in db.DETECTORS for x in (sa.func.count(a[d]), sa.func.sum(_right(a[d])))))


def _hour_query(now: float):
    """The last hour's answers by ten-minute step (0 = the oldest), all kinds and families together."""
    a, since = db.answers.c, now - BUCKET * BUCKETS
    bucket = sa.case(*((a.at < since + BUCKET * (i + 1), i) for i in range(BUCKETS - 1)), else_=BUCKETS - 1)
    q = sa.select(bucket.label("bucket"), a.kind, sa.literal("all").label("family"), sa.func.count(),
                  sa.func.sum(_right(a.human)),
                  *(x for d in db.DETECTORS for x in (sa.func.count(a[d]), sa.func.sum(_right(a[d])))))
    return q.where(a.at >= since).group_by(bucket, a.kind).order_by(bucket)


def _tally(row) -> dict:
    """One tally row as {[bucket,] kind, family, items, human: {right, accuracy}, <detector>: {...} or None}."""
    row, k = tuple(row), 2 + 2 * len(db.DETECTORS)  # the counts at the end of the row
    head = row[:len(row) - k]
    out = dict(zip(("bucket", "kind", "family")[3 - len(head):], head))
    n, human, rest = int(row[-k]), row[-k + 1], row[-k + 2:]
    out.update(items=n, human=_share(human, n))
    for i, d in enumerate(db.DETECTORS):
        count, right = rest[2 * i], rest[2 * i + 1]
        out[d] = _share(right, count) if count else None
    return out


def _share(right, n) -> dict:
    right = int(right or 0)
    return dict(right=right, accuracy=round(right / n, 4) if n else None)
