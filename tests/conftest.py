"""Shared fixtures: no network, and the app launched once on a loopback port for gradio_client tests."""

import os
import socket
import tempfile

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("PLAYGROUND_DEVICE", "cpu")
os.environ.setdefault("PLAYGROUND_DB", os.path.join(tempfile.mkdtemp(prefix="genai-playground-db-"), "room.sqlite3"))
os.environ["PLAYGROUND_C2PA_DIR"] = tempfile.mkdtemp(prefix="genai-playground-c2pa-")  # test keys, never ~/.cache

import pytest


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def app_url():
    """The whole app, served on 127.0.0.1 for the test session."""
    import app

    demo = app.build_demo()
    yield app.launch_local(demo)
    demo.close()


@pytest.fixture(scope="session")
def client(app_url):
    from gradio_client import Client

    return Client(app_url, verbose=False)


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models gain nothing from intra-op threads, and on a busy 2-core machine OpenMP teams make every op wait
    for a descheduled thread (~8 ms each); one thread keeps a test module fast. Restored after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
