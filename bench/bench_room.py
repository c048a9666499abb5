"""The room under a crowd: N players submitting at once through the app's HTTP API, then kill -9 and a restart.

    python -m bench.bench_room                       # 32 players for 60 s
    python -m bench.bench_room --players 8 --seconds 10   # a quick run
    python -m bench.bench_room --dry-run             # 4 players, 3 s
    python -m bench.bench_room --think 5             # players who look for ~5 s before each submit (people)
    python -m bench.bench_room --think 5 --raw       # ... on Gradio's HTTP API with kept-alive connections
    python -m bench.bench_room --replicas 2 --postgres   # two app processes on one PostgreSQL (pgserver)

Prints: answers accepted and the tally (they must be equal: none lost, none counted twice), the p50/p95 of a submit
beside a baseline (/room_stats, a read of the same database, on the same server at the same time), the tally after
`kill -9` of the server and a restart, and the receipt's cost per request (measure + keep in the database) beside
the same loop without it. The rounds are issued before the clock starts (their models are not the subject), each
under its own seed (the room counts an address's second answer to a seed's round as a replay, not a guess).

Without --think every player submits again the moment an answer comes back: the server's throughput, with the
latency that many players waiting in line gives. With --think T each player waits T seconds (0.5T-1.5T, seeded)
between submits, as a person looking at 8 digits does (the room's own limit allows one answer per 5 s a session).
With --replicas N the players are spread over N app processes on one database and every replica's /room_stats must
read the same tally.
"""

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from gradio_client import Client

ROOT = Path(__file__).resolve().parents[1]


def load() -> str:
    return "load %.1f %.1f %.1f" % os.getloadavg()


def serve(db: str, port: int, log_beside: str | None = None) -> subprocess.Popen:
    env = {**os.environ, "PLAYGROUND_DB": db, "PLAYGROUND_ROOM_ANSWERS_PER_SESSION": "100000",
           "PLAYGROUND_ROOM_ANSWERS_PER_ADDRESS": "100000", "PLAYGROUND_ROOM_ROUNDS_PER_SESSION": "100000",
           "PLAYGROUND_ROOM_ROUNDS_PER_ADDRESS": "100000", "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    log = open(Path(log_beside or db).with_suffix(f".{port}.log"), "a")
    return subprocess.Popen([sys.executable, "app.py", "--port", str(port), "--queue-size", "256"], cwd=ROOT,
                            env=env, stdout=log, stderr=log)


def connect(port: int, server: subprocess.Popen, wait: float = 300) -> Client:
    deadline = time.time() + wait
    while time.time() < deadline:
        if server.poll() is not None:
            raise SystemExit("the app exited; see its log beside the database")
        try:
            return Client(f"http://127.0.0.1:{port}/", verbose=False)
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.5)
    raise SystemExit("the app did not start")


def settle(server: subprocess.Popen, idle: float = 0.1, most: float = 180) -> float:
    """Waits until the app's start-up work (its warm-ups load models in a thread after the page answers, seconds of
    CPU and GIL) is over: its CPU time grows by under `idle` of a core over 2 s. Returns the seconds waited."""
    tick, t0 = os.sysconf("SC_CLK_TCK"), time.time()

    def cpu() -> float:
        fields = Path(f"/proc/{server.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick  # utime + stime

    while time.time() - t0 < most:
        before = cpu()
        time.sleep(2)
        if cpu() - before < 2 * idle:
            break
    return time.time() - t0


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] * 1000 if len(values) > 1 else float("nan")


class RawClient:
    """A player as a browser is one: Gradio's HTTP API (POST /gradio_api/call/<name>, then its event stream) on one
    kept-alive connection. gradio_client opens new connections and TLS contexts for each call, which on this CPU
    costs more than the answer (bench/bench_streams.py: 24 ms a file fetched)."""

    def __init__(self, url: str):
        import httpx
        self.url, self.http = url.rstrip("/"), httpx.Client(timeout=60)

    def predict(self, *data, api_name: str):
        name = api_name.strip("/")
        event = self.http.post(f"{self.url}/gradio_api/call/{name}", json={"data": list(data)}).json()["event_id"]
        kind = None
        with self.http.stream("GET", f"{self.url}/gradio_api/call/{name}/{event}") as answer:
            for line in answer.iter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: ") and kind in ("complete", "error"):
                    if kind == "error":
                        raise RuntimeError(line[6:])
                    return json.loads(line[6:])[0]
        raise RuntimeError("the event stream ended without a result")


def crowd(ports: list[int], players: int, seconds: float, rounds: list[dict], think: float = 0, raw: bool = False
          ) -> tuple[int, int, list, list]:
    """Each player (on replica i % len(ports)) submits its pool of rounds in a loop, `think` seconds apart on
    average (a refused replay counts as refused); a baseline thread reads /room_stats alongside. (accepted, sum of
    accepted scores, submit latencies, baseline latencies)"""
    accepted, scores, lat, base, lock = [0], [0], [], [], threading.Lock()
    make = RawClient if raw else (lambda url: Client(url, verbose=False))
    clients = [make(f"http://127.0.0.1:{ports[i % len(ports)]}/") for i in range(players + 1)]
    stop = time.time() + seconds

    def player(i: int) -> None:
        c, pace = clients[i], random.Random(i)
        mine = rounds[i::players]
        time.sleep(pace.uniform(0, think))  # players do not all start in the same instant
        for k, r in enumerate(mine):
            if time.time() > stop:
                break
            if k and think:
                time.sleep(pace.uniform(0.5 * think, 1.5 * think))
                if time.time() > stop:
                    break
            t = time.perf_counter()
            try:
                s = c.predict(r["round_id"], r["token"], json.dumps([k % 2 == 0] * 8), api_name="/submit_guess")
                with lock:
                    accepted[0] += 1
                    scores[0] += s["score"]
            except Exception as e:  # noqa: BLE001 - a refused answer is a result too
                print("refused:", str(e)[:100])
            lat.append(time.perf_counter() - t)

    def baseline() -> None:
        c = clients[-1]
        while time.time() < stop:
            t = time.perf_counter()
            c.predict(api_name="/room_stats")
            base.append(time.perf_counter() - t)
            time.sleep(think / 2)

    threads = [threading.Thread(target=player, args=(i,)) for i in range(players)] + [threading.Thread(target=baseline)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    return accepted[0], scores[0], lat, base


def receipt_cost(n: int = 2000) -> tuple[float, float, float]:
    """ms a request: measure() + keep() (queued for the writer thread), the same loop without, and the writer's
    ms a receipt (one transaction for the lot) into a fresh SQLite database."""
    os.environ["PLAYGROUND_DB"] = tempfile.mkdtemp() + "/r.db"
    from generators.room.receipts import measure, watts_per_thread
    from ui.kit.receipts import KEEPER, keep
    watts_per_thread()  # codecarbon's table read once, as the app does at its first receipt
    KEEPER.every = 3600  # flushed below, timed on its own
    work = lambda: sum(range(200))  # noqa: E731 - a token request body
    t = time.perf_counter()
    for _ in range(n):
        work()
    bare = (time.perf_counter() - t) / n * 1000
    t = time.perf_counter()
    for _ in range(n):
        with measure() as r:
            work()
        keep("bench", r)
    with_receipt = (time.perf_counter() - t) / n * 1000
    t = time.perf_counter()
    written = KEEPER.flush()
    return with_receipt, bare, (time.perf_counter() - t) / max(1, written) * 1000


def store_crowd(players: int, seconds: float) -> tuple[list, list, int, int]:
    """The database path alone, in this process: `players` threads answering fresh rounds with RoomStore.answer,
    beside the same threads calling a no-op. (answer latencies, no-op latencies, accepted, tally)"""
    from concurrent.futures import ThreadPoolExecutor

    from generators.room import db
    from generators.room.limiter import Allowance
    from generators.room.store import RoomStore
    wide = Allowance(10**9, 10**9)
    store = RoomStore(db.connect(tempfile.mkdtemp() + "/s.db"), answers=wide, rounds=wide)
    items = [dict(family="real" if i < 2 else "gan", real=i < 2, detectors={}) for i in range(8)]
    stop, lat, noop = time.time() + seconds, [], []

    def player(i: int) -> int:
        n = 0
        while time.time() < stop:
            r = store.issue("digits", i * 10**6 + n, items, session=f"s{i}", address="a")  # a fresh round each
            t = time.perf_counter()
            store.answer(r.round_id, r.token, "[true,true,false,false,false,false,false,false]", session=f"s{i}",
                         address="a")
            lat.append(time.perf_counter() - t)
            t = time.perf_counter()
            (lambda: None)()
            noop.append(time.perf_counter() - t)
            n += 1
        return n

    with ThreadPoolExecutor(players) as pool:
        accepted = sum(pool.map(player, range(players)))
    return lat, noop, accepted, store.stats()["rounds"]


def database(args) -> tuple[str, object]:
    """The room's database for the run: a fresh SQLite file, or a fresh PostgreSQL from pgserver (and its server)."""
    folder = tempfile.mkdtemp(prefix="bench-room-")
    if not args.postgres:
        return folder + "/room.sqlite3", None
    import pgserver
    server = pgserver.get_server(folder + "/pg", cleanup_mode="stop")
    return server.get_uri(), server


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--players", type=int, default=32)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--think", type=float, default=0, help="mean seconds a player waits between submits")
    p.add_argument("--replicas", type=int, default=1, help="app processes on the one database")
    p.add_argument("--raw", action="store_true", help="players on Gradio's HTTP API with kept-alive connections, as "
                   "browsers are, instead of gradio_client")
    p.add_argument("--postgres", action="store_true", help="a PostgreSQL started from the pgserver wheel")
    p.add_argument("--port", type=int, default=7931)
    p.add_argument("--dry-run", action="store_true")
    args = p.parse_args()
    if args.dry_run:
        args.players, args.seconds = 4, 3
    db_url, pg = database(args)
    log = db_url if not pg else tempfile.mkdtemp(prefix="bench-room-log-") + "/app.sqlite3"
    ports = [args.port + k for k in range(args.replicas)]
    servers = [serve(db_url, port, log) for port in ports]
    client = connect(ports[0], servers[0])
    [connect(port, server) for port, server in zip(ports[1:], servers[1:])]
    waited = max(settle(server) for server in servers)
    print(f"the app's start-up work ended {waited:.0f} s after it answered")
    print(f"{load()}; database {'PostgreSQL (pgserver)' if pg else 'SQLite'}; {args.replicas} app process(es)")
    pool = max(args.players * 4, int(args.players * args.seconds * 2))  # more rounds than can be answered
    t = time.perf_counter()
    first = client.predict("digits", 1, api_name="/play_round")
    rounds = [first] + [dict(first) for _ in range(pool - 1)]
    from generators.room import db
    from generators.room.store import RoomStore
    store = RoomStore(db.connect(db_url))
    with store.engine.connect() as conn:
        items = json.loads(conn.exec_driver_sql("select contents from rounds").scalar())
    for seed, r in enumerate(rounds[1:], start=2):  # the round's items under fresh ids, tokens and seeds
        issued = store.issue("digits", seed, items, session="bench", address="bench")
        r.update(round_id=issued.round_id, token=issued.token)
    store.engine.dispose()
    print(f"{pool} rounds issued in {time.perf_counter() - t:.1f} s; {args.players} players for {args.seconds:g} s, "
          f"think {args.think:g} s, {'raw HTTP, kept-alive' if args.raw else 'gradio_client'}")
    accepted, score_sum, lat, base = crowd(ports, args.players, args.seconds, rounds, args.think, args.raw)
    every = [Client(f"http://127.0.0.1:{port}/", verbose=False).predict(api_name="/room_stats") for port in ports]
    stats = every[0]
    right = sum(f["human"]["right"] for f in stats["families"])
    same = all(s["rounds"] == stats["rounds"] and s["families"] == stats["families"] for s in every)
    print(f"accepted {accepted}, tally {stats['rounds']} rounds; sum of accepted scores {score_sum}, tally {right}: "
          f"{'OK' if accepted == stats['rounds'] and score_sum == right else 'MISMATCH'}")
    if args.replicas > 1:
        print(f"each replica's /room_stats: {[s['rounds'] for s in every]} rounds: "
              f"{'one tally' if same else 'DIFFERENT TALLIES'}")
    rate = len(lat) / args.seconds
    print(f"submit p50 {pct(lat, 50):.0f} ms, p95 {pct(lat, 95):.0f} ms ({len(lat)} submits, {rate:.1f}/s) | "
          f"baseline /room_stats p50 {pct(base, 50):.0f} ms, p95 {pct(base, 95):.0f} ms ({len(base)} calls); "
          f"{load()}")
    for server in servers:
        server.send_signal(signal.SIGKILL)
        server.wait()
    server = serve(db_url, ports[0], log)
    after = connect(ports[0], server).predict(api_name="/room_stats")
    print(f"after kill -9 and restart: {after['rounds']} rounds (before {stats['rounds']}): "
          f"{'kept' if after['rounds'] == stats['rounds'] else 'LOST'}")
    server.terminate()
    server.wait(30)
    if pg:
        pg.cleanup()
        return
    lat, noop, n, tally = store_crowd(args.players, min(args.seconds, 15))
    print(f"database path alone ({args.players} threads, this process): answer p50 {pct(lat, 50):.1f} ms, p95 "
          f"{pct(lat, 95):.1f} ms, {n} answers, tally {tally} ({'OK' if n == tally else 'MISMATCH'}) | no-op p95 "
          f"{pct(noop, 95):.4f} ms")
    with_receipt, bare, written = receipt_cost(200 if args.dry_run else 2000)
    print(f"receipt: {with_receipt:.4f} ms a request with measure + keep, {bare:.4f} ms without: overhead "
          f"{with_receipt - bare:.4f} ms; the writer thread's database write {written:.4f} ms a receipt (batched)")


if __name__ == "__main__":
    main()
