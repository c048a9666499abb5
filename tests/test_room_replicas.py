"""Two app processes on one PostgreSQL (started by the test from the pgserver wheel) are one room: answers sent
through either replica land in one tally that both replicas' /room_stats read (slow tier). The rounds are issued
straight into the database (making their digits is not the subject, and would load every model twice)."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from gradio_client import Client

from generators.room import db
from generators.room.store import RoomStore
from tests.room_fixtures import items, postgres_url, url  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def replica(db_url: str, port: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "PLAYGROUND_DB": db_url, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=log.open("w"), stderr=subprocess.STDOUT)


def client(port: int, server: subprocess.Popen, log: Path, wait: float = 240) -> Client:
    deadline = time.time() + wait
    while time.time() < deadline:
        assert server.poll() is None, log.read_text()[-2000:]
        try:
            return Client(f"http://127.0.0.1:{port}/", verbose=False)
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.5)
    raise AssertionError(f"the replica on {port} did not start: {log.read_text()[-2000:]}")


@pytest.mark.parametrize("url", ["postgres"], indirect=True)
def test_two_app_processes_on_one_postgres_see_one_tally(url, tmp_path):
    ports = [free_port(), free_port()]
    servers = [replica(url, p, tmp_path / f"{p}.log") for p in ports]
    try:
        a, b = (client(p, s, tmp_path / f"{p}.log") for p, s in zip(ports, servers))
        store, scores = RoomStore(db.connect(url)), []
        for seed, answerer in enumerate((a, b, b)):
            issued = store.issue("digits", seed, items(seed), session="test", address="test")
            got = answerer.predict(issued.round_id, issued.token, json.dumps([True] * 8), api_name="/submit_guess")
            assert got["counted"] and got["truth"] == [r["real"] for r in items(seed)]
            scores.append(got["score"])
        store.engine.dispose()
        seen = [c.predict(api_name="/room_stats") for c in (a, b)]
        assert seen[0]["rounds"] == seen[1]["rounds"] == 3
        assert seen[0]["families"] == seen[1]["families"]
        assert sum(f["human"]["right"] for f in seen[1]["families"]) == sum(scores)
    finally:
        for s in servers:
            s.terminate()
            s.wait(30)
