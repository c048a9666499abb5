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
                db.count_round(conn, row.kind, items, marks, now)
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
        rows = [dict(what=w[:32], wall_s=r.wall_s, cpu_s=r.cpu_s, joules=r.joules, co2_g=r.co2_g, at=at)
                for w, r, at in kept]
        with db.writing(self.engine) as conn:
            conn.execute(db.receipts.insert(), rows)
            db.count_receipts(conn, rows)

    def stats(self) -> dict:
        """The room's tallies: answered rounds, accuracy by family for people and each detector, the last hour in
        ten-minute steps of the clock, and the energy totals of every receipt (running totals: a few rows)."""
        now = self.clock()
        first = int(now // BUCKET * BUCKET) - (BUCKETS - 1) * BUCKET  # the oldest step of the last hour
        with self.engine.connect() as conn:
            rounds = dict(conn.execute(sa.select(db.round_totals.c.kind, db.round_totals.c.rounds)).all())
            t, st = db.tallies.c, db.steps.c
            families = [_tally(r, kind=r.kind, family=r.family)
                        for r in conn.execute(sa.select(db.tallies).order_by(t.kind, t.family))]
            hour = [_tally(r, bucket=(r.start - first) // BUCKET, kind=r.kind, family="all")
                    for r in conn.execute(sa.select(db.steps).where(st.start >= first).order_by(st.start, st.kind))]
            energy = conn.execute(sa.select(db.energy_totals)).first()
        totals = {k: float(getattr(energy, k, 0.0) or 0.0) for k in ("wall_s", "cpu_s", "joules", "co2_g")}
        return dict(rounds=int(sum(rounds.values())), rounds_by_kind={k: int(v) for k, v in rounds.items()},
                    families=families, last_hour=dict(bucket_s=BUCKET, buckets=hour),
                    energy=dict(receipts=int(energy.receipts) if energy else 0, **totals), at=now)


def _detectors(items: list[dict]) -> dict[str, list]:
    """Each detector's marks on the round's items (True = it took the item for real; None = not applicable)."""
    names = sorted({d for it in items for d in it.get("detectors", {})})
    return {d: [it.get("detectors", {}).get(d) for it in items] for d in names}


def _tally(row, **head) -> dict:
    """One totals row as {[bucket,] kind, family, items, human: {right, accuracy}, <detector>: {...} or None}."""
    n = int(row.items)
    out = dict(head, items=n, human=_share(row.human, n))
    for d in db.DETECTORS:
        count = int(getattr(row, f"{d}_n"))
        out[d] = _share(getattr(row, f"{d}_right"), count) if count else None
    return out


def _share(right, n) -> dict:
    right = int(right or 0)
    return dict(right=right, accuracy=round(right / n, 4) if n else None)
