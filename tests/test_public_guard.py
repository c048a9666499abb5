"""Issue 28, items 4-7: body limits answered with 413 (chunked too) and nothing left behind, disk bounded and
cleaned on signals and at the next start, a login throttle the client cannot dodge, Gradio's open routes closed.

A one-textbox Blocks with the guard (ui/server/guard.py) is served on loopback: the routes under test are Gradio's
own, so the whole app is not needed.
"""

import concurrent.futures
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import gradio as gr
import httpx
import pytest
from starlette.middleware import Middleware

from ui.kit import disk
from ui.server import guard


@pytest.fixture
def served(tmp_path, monkeypatch):
    """(url, upload folder) of a tiny Blocks behind the guard, its uploads in tmp_path; closed after."""
    folder = tmp_path / "uploads"
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(folder))
    guard.LOGINS.reset()

    def start(**launch):
        with gr.Blocks(delete_cache=launch.pop("delete_cache", None)) as demo:
            box = gr.Textbox()
            box.submit(lambda s: s, box, box, api_name="echo")
        demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True, max_file_size="10mb",
                    app_kwargs={"middleware": [Middleware(guard.Guard)]}, **launch)
        started.append(demo)
        return demo.local_url, folder
    started = []
    yield start
    for demo in started:
        demo.close()
    guard.LOGINS.reset()


def chunks(size: int, piece: int = 2**16):
    """A body sent with Transfer-Encoding: chunked (httpx does for a generator): no content-length to check."""
    sent = 0
    while sent < size:
        yield b"x" * min(piece, size - sent)
        sent += piece


def files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def test_chunked_bodies_over_the_limit_get_413_one_log_line_and_leave_no_file(served, caplog):
    url, folder = served()
    caplog.set_level(logging.INFO, "playground")
    boundary = b"----x"
    head = b"--" + boundary + b'\r\nContent-Disposition: form-data; name="files"; filename="a.bin"\r\n\r\n'

    def multipart():
        yield head
        yield from chunks(11 * 2**20)
        yield b"\r\n--" + boundary + b"--\r\n"
    r = httpx.post(f"{url}gradio_api/upload", content=multipart(), timeout=60,
                   headers={"content-type": "multipart/form-data; boundary=" + boundary.decode()})
    assert r.status_code == 413 and files_under(folder) == []
    r = httpx.post(f"{url}gradio_api/call/echo", content=chunks(5 * 2**20), timeout=60,
                   headers={"content-type": "application/json"})
    assert r.status_code == 413
    lines = [rec for rec in caplog.records if "413" in rec.getMessage()]
    assert len(lines) == 2 and not any(rec.exc_info for rec in caplog.records)
    small = httpx.post(f"{url}gradio_api/upload", files={"files": ("a.txt", b"hello")}, timeout=30)
    assert small.status_code == 200  # a chunked body within the limit is replayed whole
    r = httpx.post(f"{url}gradio_api/call/echo", content=chunks(20, 7), timeout=30,
                   headers={"content-type": "application/json"})
    assert r.status_code in (400, 422)  # not JSON, but read: refused by Gradio, not by size


def test_uploads_are_refused_past_the_folder_cap(served, monkeypatch):
    url, folder = served()
    monkeypatch.setattr(guard, "UPLOADS_CAP", disk.UploadCap(cap=100_000, every_s=0))
    assert httpx.post(f"{url}gradio_api/upload", files={"files": ("a.bin", b"a" * 150_000)}).status_code == 200
    r = httpx.post(f"{url}gradio_api/upload", files={"files": ("b.bin", b"b" * 10)})
    assert r.status_code == 503 and "full" in r.text


def test_uploads_are_deleted_after_their_time(served):
    url, folder = served(delete_cache=(1, 1))
    path = httpx.post(f"{url}gradio_api/upload", files={"files": ("a.txt", b"hello")}).json()[0]
    assert Path(path).exists()
    deadline = time.time() + 10
    while Path(path).exists() and time.time() < deadline:
        time.sleep(0.2)
    assert not Path(path).exists()


def test_the_app_prunes_gradio_uploads_within_minutes():
    import app

    demo = app.build_demo()
    assert demo.delete_cache == (disk.UPLOAD_PRUNE_EVERY_S, disk.UPLOAD_KEEP_S) and disk.UPLOAD_KEEP_S <= 600


def test_a_new_start_removes_folders_of_processes_that_ended(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    for name in (f"genai-playground-{pid}-abc", f"genai-playground-examples-{pid}-x_1",
                 f"genai-playground-example-{pid}-q", f"genai-playground-{os.getpid()}-mine", "genai-playground-c2pa-zz",
                 "unrelated"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "f.png").write_bytes(b"x")
    gone = disk.remove_orphans(str(tmp_path))
    assert sorted(p.name for p in gone) == sorted([f"genai-playground-{pid}-abc", f"genai-playground-examples-{pid}-x_1",
                                                   f"genai-playground-example-{pid}-q"])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([f"genai-playground-{os.getpid()}-mine",
                                                                 "genai-playground-c2pa-zz", "unrelated"])


SERVE_TINY = """
import os, sys, app, gradio as gr
from ui.kit import media

def tiny(*args):  # the app's folders, a page of one textbox: main() is what is under test
    app.examples_cache()
    media.serve_static()
    (media.ROOT / "x.png").write_bytes(b"x")
    print(media.ROOT, os.environ["GRADIO_EXAMPLES_CACHE"], flush=True)
    with gr.Blocks() as demo:
        gr.Textbox()
    return demo

app.build_demo = tiny
app.main(["--port", sys.argv[1]])
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signals_remove_the_media_and_examples_folders(signum, closed_port):
    env = {k: v for k, v in os.environ.items() if k not in ("PLAYGROUND_MEDIA", "GRADIO_EXAMPLES_CACHE")}
    proc = subprocess.Popen([sys.executable, "-c", SERVE_TINY, str(closed_port)], stdout=subprocess.PIPE, text=True,
                            env=env, cwd=Path(__file__).parent.parent)
    folders = [Path(p) for p in proc.stdout.readline().split()]
    assert len(folders) == 2 and all(f.exists() for f in folders)
    assert all(f"-{proc.pid}-" in f.name for f in folders)  # named with the pid: a later start can tell
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{closed_port}/", timeout=2)
            break
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.send_signal(signum)
    assert proc.wait(timeout=30) == 128 + signum
    assert not any(f.exists() for f in folders)


# -- logins ---------------------------------------------------------------------------------------------------------

def login(url, password, **headers):
    return httpx.post(f"{url}login", data={"username": "ada", "password": password}, headers=headers, timeout=30)


def test_a_rotated_forwarded_for_does_not_dodge_the_throttle(served, monkeypatch):
    monkeypatch.delenv(guard.FORWARDED_ENV, raising=False)
    monkeypatch.setattr(guard.LOGINS, "first", 60.0)  # longer than the tries take on a busy machine
    url, _ = served(auth=("ada", "correct horse"))
    codes = [login(url, f"guess {i}", **{"x-forwarded-for": f"10.0.0.{i}"}).status_code for i in range(12)]
    assert codes[:guard.LOGINS.free] == [400] * guard.LOGINS.free and 429 in codes, codes


def test_forwarded_for_is_believed_from_a_configured_proxy_only(monkeypatch):
    scope = {"client": ("127.0.0.1", 5), "headers": [(b"x-forwarded-for", b"6.6.6.6, 1.2.3.4")]}
    monkeypatch.delenv(guard.FORWARDED_ENV, raising=False)
    assert guard.client_of(scope) == "127.0.0.1"
    monkeypatch.setenv(guard.FORWARDED_ENV, "127.0.0.1, ::1")
    assert guard.client_of(scope) == "1.2.3.4"
    assert guard.client_of({**scope, "client": ("8.8.8.8", 5)}) == "8.8.8.8"


def test_parallel_tries_are_counted_as_they_start(served, monkeypatch):
    monkeypatch.setattr(guard.LOGINS, "first", 60.0)
    url, _ = served(auth=("ada", "correct horse"))
    with concurrent.futures.ThreadPoolExecutor(30) as pool:
        codes = list(pool.map(lambda i: login(url, f"guess {i}").status_code, range(60)))
    assert codes.count(400) <= guard.LOGINS.free and codes.count(429) >= 60 - guard.LOGINS.free, codes


def test_a_lockout_says_so_and_lasts_what_the_readme_says(served):
    url, _ = served(auth=("ada", "correct horse"))
    for i in range(guard.LOGINS.free):
        assert login(url, f"guess {i}").status_code == 400
    refused = login(url, "correct horse")
    assert refused.status_code == 429 and "locked out for 1 s" in refused.text and "right password" not in \
        refused.text.lower() and "every password is refused" in refused.text
    readme = (Path(__file__).parent.parent / "docs" / "deploy.md").read_text()
    assert "`429` for 1 s, then 2, 4" in readme and guard.LOGINS.first == 1.0
    time.sleep(1.1)
    assert login(url, "correct horse").status_code == 200


def test_gradio_routes_that_skip_the_login_are_closed(served):
    url, _ = served(auth=("ada", "correct horse"))
    closed = [httpx.post(f"{url}gradio_api/cancel", json={"session_hash": "s", "fn_index": 0, "event_id": "e"}),
              httpx.get(f"{url}gradio_api/heartbeat/abc", timeout=5), httpx.get(f"{url}gradio_api/runs")]
    assert [r.status_code for r in closed] == [401, 401, 401]
    assert httpx.get(f"{url}manifest.json").status_code == 200  # title and icons: asked for before the login
    with httpx.Client() as client:
        assert client.post(f"{url}login", data={"username": "ada", "password": "correct horse"}).status_code == 200
        assert client.post(f"{url}gradio_api/cancel", json={"session_hash": "s", "fn_index": 0,
                                                            "event_id": "e"}).status_code == 200


def test_no_unnamed_public_endpoint():
    import app

    demo = app.build_demo()
    public = [fn.api_name for fn in demo.fns.values() if fn.api_visibility == "public" and fn.fn is not None]
    assert public and not [name for name in public if not name or name.startswith("lambda")], public
