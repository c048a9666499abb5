"""`python app.py` with flags in a process of its own, for tests of whole-app settings (a backend) that the shared
in-process app (conftest.py) cannot take."""

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from gradio_client import Client

ROOT = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def served_app(folder: Path, *flags: str, env: dict | None = None, wait_s: float = 300):
    """(a gradio_client Client, the app's process) of `python app.py --port <free> *flags` (its output in
    folder/server.log) once it answers; the app is stopped after."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = open(folder / "server.log", "w+")
    server = subprocess.Popen([sys.executable, "app.py", "--port", str(port), *flags], stdout=log, stderr=log,
                              env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}, cwd=ROOT)
    url, deadline, client = f"http://127.0.0.1:{port}/", time.time() + wait_s, None
    try:
        while client is None and time.time() < deadline and server.poll() is None:
            try:
                client = Client(url, verbose=False)
            except Exception:  # noqa: BLE001 - not up yet
                time.sleep(0.5)
        assert client is not None, Path(log.name).read_text()[-3000:]
        yield client, server
    finally:
        server.terminate()
        server.wait(20)
        log.close()


def answers_text_and_digits(client: Client, text_adapter) -> None:
    """The served app's /continue_text gives the text `text_adapter` (a local TextContinuation) gives, with the
    app's default watermark, and /sample_digits a 4-digit gallery computed on the CPU."""
    from generators.provenance.watermark import DELTA

    prompt = "It was a dark and stormy night;"
    text = client.predict(prompt, 8, 7, api_name="/continue_text")[0]
    assert text == text_adapter.continue_text(prompt, max_new_tokens=8, seed=7, watermark=DELTA)[0].text
    gallery, _, summary = client.predict("7", 4, 3, 0.8, api_name="/sample_digits")
    assert len(gallery) == 4 and "cpu" in summary
