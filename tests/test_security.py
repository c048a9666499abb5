"""Issue 13: the app as a careless or hostile caller meets it, over raw HTTP and gradio_client.

Malformed calls get a short message, a user's mistake is one log line, images are checked from their header before
anything is decoded, only the app's own files are served, logins slow down, and requests leave nothing behind.
"""

import functools
import json
import math
import os
import re
import socket
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import httpx
import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from generators.text import BUNDLED
from ui.kit.images import png_bytes

TEXT_DEFAULTS = [8, 0, 0.8, 40, 0.95, 1.1, 1, BUNDLED]  # continue_text's first arguments after the prompt
SHORT = {("sample_digits", 1), ("latent_walk", 3)}  # (endpoint, inputs): too few on purpose, not padded


@functools.cache
def _defaults(url: str, api: str) -> tuple:
    """The endpoint's parameters' defaults, from /gradio_api/info (None where a parameter has none)."""
    params = httpx.get(f"{url}gradio_api/info", timeout=30).json()["named_endpoints"][f"/{api}"]["parameters"]
    return tuple(p.get("parameter_default") for p in params)


def full(url: str, api: str, data: list) -> list:
    """`data` padded with the endpoint's defaults: a call with every input, however many the endpoint has now."""
    return [*data, *_defaults(url, api)[len(data):]]


def raw_call(url: str, api: str, data, headers=None, **kw) -> tuple[str, object]:
    """POST /gradio_api/call/<api>, then read its event stream: (last event, its data), or ("http <code>", text)."""
    r = httpx.post(f"{url}gradio_api/call/{api}", content=json.dumps({"data": data}),
                   headers={"content-type": "application/json", **(headers or {})}, timeout=60, **kw)
    if r.status_code != 200:
        return f"http {r.status_code}", r.text
    stream = httpx.get(f"{url}gradio_api/call/{api}/{r.json()['event_id']}", timeout=60, **kw).text
    events = re.findall(r"event: (\w+)\ndata: (.*)\n", stream)
    event, data = events[-1]
    return event, json.loads(data)


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1)) / 1024


def peak_mb_during(fn):
    """fn()'s result and the process's peak RSS (MB) while it ran (the peak counter reset first)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    out = fn()
    with open("/proc/self/status") as f:
        return out, int(re.search(r"VmHWM:\s+(\d+)", f.read()).group(1)) / 1024


# (endpoint, data, a word the message must have)
MALFORMED = [
    ("sample_digits", ["7", "16", 1, 1.0], "count"),
    ("sample_digits", ["7", 4, "abc", 1.0], "seed"),
    ("sample_digits", ["7", 4, None, 1.0], "seed"),
    ("sample_digits", ["7", 4, math.nan, 1.0], "seed"),
    ("sample_digits", ["7", 4, 1.5, 1.0], "seed"),  # refused, not rounded to 2
    ("sample_digits", ["7", 4, 1, math.inf], "truncation"),
    ("sample_digits", ["7", None, 1, 1.0], "count"),
    ("sample_digits", ["seven", 4, 1, 1.0], "seven"),
    ("sample_digits", ["7"], "takes 5 inputs (digit, count, seed, truncation, model)"),  # too few: says how many
    ("latent_walk", ["3", 1, 2, "24", 1.0], "steps"),
    ("latent_walk", ["3", 1, 2], "takes"),  # too few again
    ("interpolate_digits", ["1", "7", 8, "cubic", 0, None, None], "cubic"),
    ("interpolate_digits", ["1", "7", 8, "linear", -0.5, None, None], "seed"),
    ("continue_text", [123, *TEXT_DEFAULTS], "text"),  # refused, not turned into "123"
    ("continue_text", [["a"], *TEXT_DEFAULTS], "text"),
    ("continue_text", ["Hi", 8, 1.5, *TEXT_DEFAULTS[2:]], "seed"),
    ("continue_text", ["Hi", 8, 0, 0.8, 40, 0.95, 1.1, 1, "gpt-5"], "gpt-5"),
]


@pytest.mark.parametrize("api, data, says", MALFORMED, ids=[f"{a}-{d}" for a, d, _ in MALFORMED])
def test_malformed_raw_call_gets_its_message(app_url, api, data, says):
    event, out = raw_call(app_url, api, data if (api, len(data)) in SHORT else full(app_url, api, data))
    assert event == "error", (event, out)
    assert isinstance(out, dict) and isinstance(out.get("error"), str) and says in out["error"], out
    assert "Traceback" not in out["error"] and len(out["error"]) < 400


def test_gradio_client_gets_the_same_messages(client):
    for args, says in [(("7", 4, 1.5, 1.0), "seed"), (("7", "16", 1, 1.0), "count"), (("7", 4, None, 1.0), "seed")]:
        with pytest.raises(Exception) as err:
            client.predict(*args, api_name="/sample_digits")
        assert says in str(err.value) and "upstream Gradio app" not in str(err.value)


def test_chinese_message_for_a_malformed_call(app_url):
    _, out = raw_call(app_url, "sample_digits", ["7"], headers={"accept-language": "zh-CN"})
    assert re.search(r"[\u4e00-\u9fff]", out["error"]), out


def test_user_mistakes_are_one_short_log_line(app_url, capfd, caplog):
    caplog.set_level("INFO", logger="playground")
    huge = "x" * 300_000
    cases = [("sample_digits", ["7", 4, 1.5, 1.0]), ("sample_digits", ["7"]), ("sample_digits", [huge]),
             ("sample_digits", [huge, 4, 1, 1.0]), ("continue_text", [huge, 8]),
             ("latent_walk", ["3", 1, 2, "x", 1.0, ""])]
    for api, data in cases:
        raw_call(app_url, api, data)
    out, err = capfd.readouterr()
    assert "Traceback" not in err and "xxxxxxxxxx" not in err + out + caplog.text, err[-2000:]
    lines = [r.getMessage() for r in caplog.records if r.name == "playground"]
    assert len(lines) >= len(cases) and all(len(line) < 200 for line in lines), lines
    assert any("sample_digits" in line and "int_range" in line for line in lines), lines


def test_a_real_fault_keeps_its_traceback(app_url, capfd, monkeypatch):
    from ui.tabs import gan_tab

    def boom(**kwargs):
        raise RuntimeError("disk on fire")
    monkeypatch.setattr(gan_tab.SAMPLER, "sample", boom)
    event, _ = raw_call(app_url, "sample_digits", ["7", 4, 1, 1.0])
    assert event == "error"
    assert "Traceback" in capfd.readouterr().err


def test_request_bodies_are_capped(app_url):
    status, _ = raw_call(app_url, "continue_text", full(app_url, "continue_text", ["x" * 5_000_000]))
    assert status == "http 413"
    event, out = raw_call(app_url, "sample_digits", ["7", 2, 0, 1.0])
    assert event == "complete"  # still serving
    event, out = raw_call(app_url, "finetune_text", full(app_url, "finetune_text", ["好" * 400_000, 1, 0]))
    assert event == "error" and "1000000" in str(out)  # 1.2 MB of text, 2.4 escaped: the handler's own message


# ---- images: checked from the header before anything is decoded

def png_bomb(path, side: int = 13000):
    """A valid side x side grayscale PNG of zeros: ~170 MB decoded, ~170 KB on disk, written without decoding."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    z, row, parts = zlib.compressobj(9), b"\0" * (side + 1), []
    for _ in range(side):
        parts.append(z.compress(row))
    parts.append(z.flush())
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    ihdr, idat, end = chunk(b"IHDR", ihdr), chunk(b"IDAT", b"".join(parts)), chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + ihdr + idat + end)
    return path


@pytest.fixture(scope="module")
def bomb(tmp_path_factory):
    return png_bomb(tmp_path_factory.mktemp("bomb") / "bomb.png")


def sketch(path) -> dict:
    return {"background": handle_file(str(path)), "layers": [], "composite": handle_file(str(path))}


def test_a_png_bomb_is_refused_from_its_header(client, bomb):
    before = rss_mb()
    err, peak = peak_mb_during(lambda: pytest.raises(Exception, client.predict, "my drawing", "7", 8, "linear", 0,
                                                     sketch(bomb), None, api_name="/interpolate_digits"))
    assert "too large" in str(err.value), err.value
    assert peak - before < 60, (before, peak)  # decoded, it would be 170 MB (and more, converted)
    assert rss_mb() - before < 30


@pytest.mark.parametrize("name, data", ids=["noise", "text", "svg"],
                         argvalues=[("noise.png", os.urandom(4000)), ("notes.txt", b"just some text\n" * 50),
                                        ("digit.svg", b'<svg xmlns="http://www.w3.org/2000/svg" width="28" '
                                                      b'height="28"><circle cx="14" cy="14" r="9"/></svg>')])
def test_not_an_image_gets_our_message(client, tmp_path, name, data):
    (tmp_path / name).write_bytes(data)
    with pytest.raises(Exception) as err:
        client.predict("my drawing", "7", 8, "linear", 0, sketch(tmp_path / name), None,
                       api_name="/interpolate_digits")
    assert "not an image" in str(err.value), err.value


def test_a_plain_image_file_is_taken_as_the_drawing(client, tmp_path):
    paper = Image.new("L", (280, 280), 255)
    paper.paste(0, (130, 40, 150, 240))
    paper.save(tmp_path / "one.png")
    out = client.predict("my drawing", "0", 8, "linear", 0, handle_file(str(tmp_path / "one.png")), None,
                         api_name="/interpolate_digits")
    assert len(out[0]) == 8 and "your drawing" in out[5]


def test_pillow_refuses_bombs_everywhere(bomb):
    import ui.server.guard  # noqa: F401  (the app imports it: the fence is process-wide)

    with pytest.raises(Image.DecompressionBombError):
        Image.open(bomb).load()


# ---- files

def test_media_folder_is_private_and_serves_only_our_files(client, app_url):
    from ui.kit import media

    assert media.ROOT.stat().st_mode & 0o777 == 0o700 and media.ROOT.name != "genai-playground"
    gallery, _, _ = client.predict("7", 2, 0, 1.0, api_name="/sample_digits")
    served = httpx.get(f"{app_url}gradio_api/file={next(media.ROOT.rglob('digit-*.png'))}", timeout=10)
    assert served.status_code == 200 and served.headers["content-type"] == "image/png"
    folder = next(p for p in media.ROOT.iterdir() if p.is_dir())
    (folder / "evil.html").write_text("<script>alert(1)</script>")
    (folder / "evil.png").write_text("<script>alert(1)</script>")
    for name in ("evil.html", "evil.png"):
        r = httpx.get(f"{app_url}gradio_api/file={folder / name}", timeout=10)
        assert r.status_code in (403, 404) and "text/html" not in r.headers.get("content-type", ""), name


def test_media_cap_removes_oldest_first(tmp_path, monkeypatch):
    from ui.kit import media

    for i in range(5):
        folder = tmp_path / f"r{i}"
        folder.mkdir()
        (folder / "a.png").write_bytes(b"\0" * 1000)
        os.utime(folder, (time.time() - 100 + i, time.time() - 100 + i))
    media.prune(tmp_path, max_bytes=2500, keep_seconds=3600)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r3", "r4"]


def test_written_folders_are_pruned_least_recently_written_first_without_listing_any(tmp_path, monkeypatch):
    """The cleanup thread's look every 30 s prunes from what this process wrote: no folder is listed or stat-ed."""
    from ui.kit import media

    ledger, folders = media.Ledger(), []
    for i in range(5):
        folder = tmp_path / f"r{i}"
        folder.mkdir()
        (folder / "a.png").write_bytes(b"\0" * 1000)
        ledger.record(folder, 1000)
        folders.append(folder)
    ledger.record(folders[0], 0)  # r0 written to again: now the most recent
    monkeypatch.setattr(Path, "iterdir", lambda self: (_ for _ in ()).throw(AssertionError("listed " + str(self))))
    monkeypatch.setattr(Path, "stat", lambda self, **kw: (_ for _ in ()).throw(AssertionError("stat " + str(self))))
    assert ledger.prune(max_bytes=2500, keep_seconds=3600) == 3
    assert sorted(os.listdir(tmp_path)) == ["r0", "r4"] and ledger.bytes == 2000 and len(ledger) == 2
    assert ledger.prune(max_bytes=2500, keep_seconds=3600) == 0
    assert ledger.prune(max_bytes=10**9, keep_seconds=-1) == 2 and os.listdir(tmp_path) == [] and ledger.bytes == 0


def test_new_folder_and_write_record_their_bytes():
    from ui.kit import media

    folder = media.new_folder()
    assert media.WRITTEN.bytes_of(folder) == 0
    path = media.write(folder, "a.png", png_bytes(np.zeros((28, 28), np.uint8)), generator="test")
    media.write(folder, "b.bin", b"\0" * 10, generator=None)
    assert media.WRITTEN.bytes_of(folder) == os.path.getsize(path) + 10


def test_our_files_are_found_static_at_the_first_path_gradio_checks(monkeypatch):
    """Gradio checks each file of each update against its static paths in turn; ours come first, even after an
    icon is registered later, so one of our files costs one check, not one per icon."""
    import gradio as gr
    from gradio import utils
    from ui.kit import media

    folder = media.new_folder()  # registers ROOT (once a process)
    gr.set_static_paths([gr.utils.get_icon_path("plus.svg")])  # as a component with an icon does later
    path = media.write(folder, "a.png", png_bytes(np.zeros((28, 28), np.uint8)), generator="test")
    checked = []
    real = utils.is_in_or_equal
    monkeypatch.setattr(utils, "is_in_or_equal", lambda a, b: checked.append(b) or real(a, b))
    assert utils.is_static_file(str(path)) and checked == [media.ROOT]
    assert not utils.is_static_file(__file__)  # and the others are still checked


def test_new_folder_never_cleans_up_inline(monkeypatch):
    from ui.kit import media

    def stall(*args, **kwargs):
        raise AssertionError("a request paid for the cleanup")
    monkeypatch.setattr(media, "prune", stall)
    for _ in range(3):
        assert media.new_folder().is_dir()


# ---- login

@pytest.fixture(scope="module")
def locked_url(tmp_path_factory):
    """`python app.py` with its password in PLAYGROUND_AUTH, on a free loopback port, in its own process."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "PLAYGROUND_AUTH": "ada:correct horse", "PYTHONUNBUFFERED": "1"}
    log = open(tmp_path_factory.mktemp("locked") / "server.log", "w+")
    server = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], env=env, stdout=log, stderr=log,
                              cwd=Path(__file__).parent.parent)
    url, deadline, up = f"http://127.0.0.1:{port}/", time.time() + 300, False
    while not up and time.time() < deadline and server.poll() is None:
        try:
            up = httpx.get(url, timeout=2).status_code < 500
        except httpx.HTTPError:
            time.sleep(0.5)
    assert up, Path(log.name).read_text()[-3000:]
    assert "correct horse" not in " ".join(server.args)  # not on the command line, so not in ps
    yield url
    server.terminate()
    server.wait(10)


@pytest.mark.slow  # `python app.py` in a process of its own
def test_auth_refuses_every_route_without_credentials(locked_url, tmp_path):
    Image.new("L", (28, 28)).save(tmp_path / "x.png")
    from ui.kit import media

    png = next(media.ROOT.rglob("*.png"), tmp_path / "x.png")
    attempts = [httpx.get(f"{locked_url}gradio_api/info"), httpx.get(f"{locked_url}config"),
                httpx.post(f"{locked_url}gradio_api/call/sample_digits", json={"data": ["7", 2, 0, 1.0]}),
                httpx.post(f"{locked_url}gradio_api/queue/join", json={"data": ["7", 2, 0, 1.0], "fn_index": 0,
                                                                        "session_hash": "abc"}),
                httpx.post(f"{locked_url}gradio_api/upload", files={"files": open(tmp_path / "x.png", "rb")}),
                httpx.get(f"{locked_url}gradio_api/file={png}")]
    assert all(r.status_code in (401, 403) for r in attempts), [(r.url.path, r.status_code) for r in attempts]


@pytest.mark.slow  # the same server
def test_failed_logins_lock_the_client_out(locked_url):
    from ui.server import guard

    login = lambda pw: httpx.post(f"{locked_url}login", data={"username": "ada", "password": pw})  # noqa: E731
    assert login("correct horse").status_code == 200
    codes = [login(f"guess {i}").status_code for i in range(guard.LOGINS.free + 1)]
    assert codes[:guard.LOGINS.free] == [400] * guard.LOGINS.free and codes[-1] == 429, codes
    refused = login("correct horse")  # even the right password waits out the lockout
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1


def test_login_limiter_lets_a_client_in_after_its_wait(monkeypatch):
    from ui.server import guard

    now = [1000.0]
    monkeypatch.setattr(guard.time, "monotonic", lambda: now[0])
    limiter = guard.LoginLimiter(free=2, longest=60)
    for _ in range(4):
        limiter.failed("a")
    assert limiter.wait("a") == 4 and limiter.wait("b") == 0  # 2 ** (4 - 2) s, for this client only
    now[0] += 5
    assert limiter.wait("a") == 0
    limiter.failed("a")
    assert limiter.wait("a") == 8  # each further failure doubles it
    limiter.succeeded("a")
    assert limiter.wait("a") == 0


def test_password_from_environment_or_file(tmp_path, monkeypatch):
    import app

    (tmp_path / "auth").write_text("ada:correct horse\n")
    assert app.read_auth(app.parse_args(["--auth-file", str(tmp_path / "auth")])) == ("ada", "correct horse")
    monkeypatch.setenv("PLAYGROUND_AUTH", "bob:pw:with:colons")
    assert app.read_auth(app.parse_args([])) == ("bob", "pw:with:colons")
    monkeypatch.delenv("PLAYGROUND_AUTH")
    assert app.read_auth(app.parse_args([])) is None


# ---- no growth per request

def test_sessions_kept_are_bounded(app_url):
    """Every API call is a Gradio session whose state Gradio keeps (10,000 by default): the app keeps SESSIONS."""
    import app

    demo = _demo(app_url)
    for i in range(3):
        raw_call(app_url, "sample_digits", ["7", 1, i, 1.0])
    holder = demo.server_app.state_holder
    assert holder.capacity == app.SESSIONS < 10_000 and 3 <= len(holder.session_data) <= app.SESSIONS


def _demo(app_url):
    import gc

    import app

    gc.unfreeze()  # the app's warm-ups froze what was loaded by then (ui/kit/warm.py): out of get_objects' sight
    (demo,) = [b for b in gc.get_objects() if isinstance(b, app.Playground) and b.local_url == app_url]
    return demo


def test_finished_api_sessions_are_forgotten(app_url):
    """Gradio 6.31 keeps every /call/ session's finished event ids for good; the app drops those whose events
    are finished and delivered, at the second look (ui/server/gradio_patches.py), and keeps one still undelivered."""
    from ui.server.gradio_patches import SessionPruner

    queue = _demo(app_url)._queue
    for i in range(3):
        raw_call(app_url, "sample_digits", ["7", 1, i, 1.0])
    waiting = httpx.post(f"{app_url}gradio_api/call/sample_digits", json={"data": ["7", 1, 9, 1.0]}, timeout=30)
    event_id = waiting.json()["event_id"]  # its result is never read: it stays in its session's message queue
    deadline = time.time() + 30
    while event_id in queue.event_ids_to_events and time.time() < deadline:
        time.sleep(0.05)
    pruner, before = SessionPruner(every=0), len(queue.pending_event_ids_session)
    assert before >= 4
    first = pruner.prune(queue)  # pruned here, off the event loop: the server is idle meanwhile
    second = pruner.prune(queue)
    assert first == 0 and second >= 3
    assert any(event_id in ids for ids in queue.pending_event_ids_session.values())
    stream = httpx.get(f"{app_url}gradio_api/call/sample_digits/{event_id}", timeout=30).text
    assert "event: complete" in stream  # the undelivered result is still there for its caller


@pytest.mark.slow  # the soak: minutes against a server of its own
def test_requests_leave_nothing_behind():
    """The soak (bench/bench_soak.py) against `python app.py` in a process of its own, so that its RSS is the
    server's alone: 300 mixed calls from 4 clients (every endpoint, bad inputs, cancelled streams), no errors, no
    traceback in the server's log, and RSS 5 s after the load (the app trims its heap once quiet for 1 s) within 3% of its level
    after the first 100 calls. The hostile mix (adapters, uploads) has its bounds in tests/test_bounds.py."""
    done = subprocess.run([sys.executable, "-m", "bench.bench_soak", "--requests", "300", "--clients", "4",
                           "--minutes", "5", "--idle", "5", "--baseline", "2", "--no-hostile"], capture_output=True, text=True, timeout=600,
                          cwd=Path(__file__).resolve().parents[1])
    out = done.stdout
    assert done.returncode == 0, done.stderr[-2000:]
    assert re.search(r"errors 0\b", out) and re.search(r"\b0 tracebacks", out), out
    ratio = float(re.search(r"after/after-100 ([\d.]+)", out).group(1))
    assert ratio < 1.03, out
