"""The room's database: a token answers once, forged and replayed tokens are refused, floods are held, tallies add
up under concurrent submits (threads and processes), a restart keeps them, migrations run from empty and from
version 1. Every test runs on SQLite; the same tests run on a real PostgreSQL in the slow tier."""

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from generators.core.errors import InputError
from generators.room import db
from generators.room.limiter import Allowance, Flooded
from generators.room.store import ITEMS, Refused, RoomStore
from tests.room_fixtures import WIDE, answer_many, in_processes, items, postgres_url, url  # noqa: F401 (fixtures)

BOTH = pytest.mark.parametrize("url", ["sqlite", pytest.param("postgres", marks=pytest.mark.slow)], indirect=True)
MARKS = json.dumps([True, False] * (ITEMS // 2))


def store_at(url: str, **limits) -> RoomStore:
    return RoomStore(db.connect(url), **({"answers": WIDE, "rounds": WIDE} | limits))


@BOTH
def test_truth_matches_the_sources_and_a_token_answers_once(url):
    store = store_at(url)
    records = items(1)
    issued = store.issue("digits", 1, records, session="s", address="a")
    result = store.answer(issued.round_id, issued.token, MARKS, session="s", address="a")
    assert result["truth"] == [r["family"] == "real" for r in records]
    assert result["families"] == [r["family"] for r in records]
    assert result["score"] == sum(m == r["real"] for m, r in zip(json.loads(MARKS), records))
    assert result["detectors"]["discriminator"] == [r["detectors"]["discriminator"] for r in records]
    with pytest.raises(Refused) as replay:
        store.answer(issued.round_id, issued.token, MARKS, session="s", address="a")
    assert replay.value.key == "room_replayed"
    assert store.stats()["rounds"] == 1


@BOTH
def test_a_replay_by_seed_is_scored_but_not_counted(url):
    """Having seen a seed's truth, the same address replaying that seed would score perfectly every time: the
    tally leaves it out. Another address's first answer of the same seed counts."""
    store = store_at(url)
    records = items(7)
    perfect = json.dumps([r["real"] for r in records])
    first = store.issue("digits", 7, records, session="s", address="a")
    assert store.answer(first.round_id, first.token, MARKS, session="s", address="a")["counted"]
    again = store.issue("digits", 7, records, session="new", address="a")
    replay = store.answer(again.round_id, again.token, perfect, session="new", address="a")
    assert replay["score"] == ITEMS and replay["counted"] is False
    other_kind = store.issue("text", 7, items(7), session="s", address="a")
    assert store.answer(other_kind.round_id, other_kind.token, MARKS, session="s", address="a")["counted"]
    elsewhere = store.issue("digits", 7, records, session="t", address="b")
    assert store.answer(elsewhere.round_id, elsewhere.token, MARKS, session="t", address="b")["counted"]
    stats = store.stats()
    assert stats["rounds"] == 3 and stats["rounds_by_kind"] == {"digits": 2, "text": 1}
    assert sum(f["items"] for f in stats["families"]) == 3 * ITEMS
    right = sum(m == r["real"] for m, r in zip(json.loads(MARKS), records))
    digits = sum(f["human"]["right"] for f in stats["families"] if f["kind"] == "digits")
    assert digits == 2 * right  # the perfect replay is not in it


@BOTH
def test_forged_unknown_and_bad_marks_are_refused(url):
    store = store_at(url)
    issued = store.issue("text", 2, items(2), session="s", address="a")
    for round_id, token, key in ((issued.round_id, issued.token[:-1] + "x", "room_forged"),
                                 ("0" * 32, issued.token, "room_unknown"), (issued.round_id, "", "room_unknown")):
        with pytest.raises(Refused) as refused:
            store.answer(round_id, token, MARKS, session="s", address="a")
        assert refused.value.key == key
    for marks in ("[true]", "not json", json.dumps([1] * ITEMS), json.dumps([True] * (ITEMS + 1))):
        with pytest.raises(InputError):
            store.answer(issued.round_id, issued.token, marks, session="s", address="a")
    assert store.answer(issued.round_id, issued.token, MARKS, session="s", address="a")["score"] >= 0


def test_an_expired_round_is_refused(tmp_path):
    clock = [1000.0]
    store = RoomStore(db.connect(str(tmp_path / "r.db")), answers=WIDE, rounds=WIDE, clock=lambda: clock[0])
    issued = store.issue("digits", 3, items(3), session="s", address="a")
    clock[0] += 3601
    with pytest.raises(Refused) as refused:
        store.answer(issued.round_id, issued.token, MARKS, session="s", address="a")
    assert refused.value.key == "room_expired"


def test_the_flood_limit_holds_per_session_and_per_address(tmp_path):
    store = store_at(str(tmp_path / "r.db"), answers=Allowance(per_session=3, per_address=5))
    rounds = [store.issue("digits", i, items(i), session="x", address="y") for i in range(8)]
    accepted = 0
    for r in rounds[:4]:  # one session: 3 pass, the 4th is refused before the database
        try:
            store.answer(r.round_id, r.token, MARKS, session="one", address="net")
            accepted += 1
        except Flooded as e:
            assert e.key == "room_flood" and e.fields["limit"] == 3 and e.fields["wait"] >= 1
    assert accepted == 3
    for i, r in enumerate(rounds[4:]):  # new sessions, same address: 2 more pass (5 in all), then refused
        try:
            store.answer(r.round_id, r.token, MARKS, session=f"other{i}", address="net")
            accepted += 1
        except Flooded:
            pass
    assert accepted == 5 and store.stats()["rounds"] == 5
    assert store.answer(rounds[3].round_id, rounds[3].token, MARKS, session="new", address="elsewhere")


@BOTH
def test_tallies_add_up_under_concurrent_submits_in_threads(url):
    store = store_at(url)
    rounds = [store.issue("digits", i, items(i), session="s", address="a") for i in range(24)]

    def answer(r):  # each round submitted 3 times at once: exactly one counts
        try:
            return store.answer(r.round_id, r.token, MARKS, session="s", address="a")["score"]
        except Refused:
            return None

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(answer, [r for r in rounds for _ in range(3)]))
    accepted = [s for s in results if s is not None]
    assert len(accepted) == len(rounds)
    stats = store.stats()
    assert stats["families"] == recount(store.engine)  # the running totals, beside a GROUP BY over every answer
    assert stats["rounds"] == len(rounds)
    assert sum(f["human"]["right"] for f in stats["families"]) == sum(accepted)
    assert sum(f["items"] for f in stats["families"]) == ITEMS * len(rounds)


def recount(engine) -> list[dict]:
    """The tally by family counted from `answers` row by row (what the running totals must equal)."""
    out = {}
    with engine.connect() as conn:
        for r in conn.execute(sa.select(db.answers)):
            t = out.setdefault((r.kind, r.family), dict(kind=r.kind, family=r.family, items=0, right=0,
                                                        **{d: [0, 0] for d in db.DETECTORS}))
            t["items"] += 1
            t["right"] += r.human == r.real
            for d in db.DETECTORS:
                if getattr(r, d) is not None:
                    t[d][0] += 1
                    t[d][1] += getattr(r, d) == r.real
    share = lambda right, n: dict(right=right, accuracy=round(right / n, 4) if n else None)  # noqa: E731
    return [dict(kind=t["kind"], family=t["family"], items=t["items"], human=share(t["right"], t["items"]),
                 **{d: share(t[d][1], t[d][0]) if t[d][0] else None for d in db.DETECTORS})
            for _, t in sorted(out.items())]


def test_the_last_hour_is_kept_in_ten_minute_steps(tmp_path):
    clock = [7200.0 * 1000]
    store = RoomStore(db.connect(str(tmp_path / "r.db")), answers=WIDE, rounds=WIDE, clock=lambda: clock[0])
    for minutes_ago in (75, 45, 44, 5, 0):  # the first is over an hour ago: in the totals, not in the hour
        clock[0] = 7200.0 * 1000 - minutes_ago * 60
        issued = store.issue("digits", minutes_ago, items(minutes_ago), session="s", address="a")
        store.answer(issued.round_id, issued.token, MARKS, session="s", address="a")
    stats = store.stats()
    assert stats["rounds"] == 5
    assert [(b["bucket"], b["items"]) for b in stats["last_hour"]["buckets"]] == [(0, 2 * ITEMS), (4, ITEMS), (5, ITEMS)]


@BOTH
def test_tallies_add_up_across_processes_and_survive_a_restart(url):
    db.connect(url).dispose()  # migrated once, before the workers race
    scores = in_processes(url, workers=3, n=6)
    restarted = store_at(url)  # a new engine: what another replica, or the app after a restart, sees
    stats = restarted.stats()
    assert stats["families"] == recount(restarted.engine)
    assert stats["rounds"] == 18
    assert sum(f["human"]["right"] for f in stats["families"]) == sum(scores)


@BOTH
def test_migrations_from_empty_and_from_version_1(url):
    old = db.connect(url, upto=1)
    assert db.version(old) == 1
    with old.begin() as conn:  # a version-1 room: one answered round, one open
        records = items(5)
        for rid, answered in (("a" * 32, 10.0), ("b" * 32, None)):
            conn.execute(db.rounds.insert().values(id=rid, kind="digits", seed=5, token_hash="h",
                                                   contents=json.dumps(records), issued_at=1.0,
                                                   answered_at=answered))
        conn.execute(db.guesses.insert().values(round_id="a" * 32, marks=MARKS, score=3, at=10.0))
    assert not sa.inspect(old).has_table("answers")
    new = db.connect(url)
    assert db.version(new) == db.LATEST == 3
    stats = RoomStore(new).stats()
    assert stats["rounds"] == 1 and sum(f["items"] for f in stats["families"]) == ITEMS
    right = sum(m == r["real"] for m, r in zip(json.loads(MARKS), records))
    assert sum(f["human"]["right"] for f in stats["families"]) == right
    assert stats["families"] == recount(new)
    assert db.upgrade(new) == 3  # idempotent
    assert "ix_rounds_kind_seed_client" in {i["name"] for i in sa.inspect(new).get_indexes("rounds")}


def test_a_concurrent_first_start_migrates_once(tmp_path):
    url = str(tmp_path / "r.db")
    threads = [threading.Thread(target=lambda: db.connect(url).dispose()) for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    with db.connect(url).connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(db.schema_version)).scalar() == db.LATEST


def test_sqlite_is_in_wal_mode_and_the_path_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_DB", str(tmp_path / "env.sqlite3"))
    engine = db.connect()
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    assert (tmp_path / "env.sqlite3").exists()
    assert db.url_from("postgresql://u@h/d") == "postgresql+psycopg://u@h/d"


def test_answer_many_helper_counts(tmp_path):
    assert answer_many(str(tmp_path / "r.db"), 2, 7) >= 0
