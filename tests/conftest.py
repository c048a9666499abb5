"""Shared fixtures: no network, the app launched once on a loopback port for gradio_client tests, the tiny seeded
language models (training/tiny.py) the text tests share, and the training data (skips, with the reason, if absent)."""

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


_deselected = 0


def pytest_deselected(items):
    global _deselected
    _deselected += len(items)


def pytest_sessionfinish(session, exitstatus):
    """A tier that -m or -k leaves empty (e.g. `-m slow` where every slow test is filtered out) passed: pytest's
    exit 5 ("no tests collected") stays for a run that found no tests at all (a wrong path)."""
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED and _deselected:
        session.exitstatus = pytest.ExitCode.OK


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


TINY_CORPUS = [
    "The old captain looked out over the harbour and said that the sea was calm.",
    "She walked along the quay, past the boats, and watched the gulls over the water.",
    "Café, naïve, façade — “quoted” words; 日本語 and ✓ make multi-byte characters.",
] * 20


@pytest.fixture(scope="session")
def tiny_tokenizer():
    """A 300-token byte-level BPE trained on TINY_CORPUS (multi-byte characters included)."""
    from training.train_text import build_tokenizer

    return build_tokenizer(TINY_CORPUS, vocab_size=300)


@pytest.fixture(scope="session")
def tiny_gpt2_dir(tiny_tokenizer, tmp_path_factory):
    """`tiny_gpt2_dir(n_positions=64)`: a folder with a tiny random GPT-2 (seed 0) and the tiny tokenizer, one per
    context length, for PLAYGROUND_TEXT_MODEL. `.tokenizer` is that tokenizer."""
    from training.tiny import tiny_gpt2

    made = {}

    def make(n_positions: int = 64):
        if n_positions not in made:
            out = made[n_positions] = tmp_path_factory.mktemp(f"gpt2-{n_positions}")
            tiny_gpt2(tiny_tokenizer, n_positions=n_positions).save_pretrained(out)
            tiny_tokenizer.save_pretrained(out)
        return made[n_positions]

    make.tokenizer = tiny_tokenizer
    return make


@pytest.fixture(scope="session")
def tiny_llama_dir(tiny_tokenizer, tmp_path_factory):
    """A folder with a tiny random Llama (SmolLM2's architecture, seed 0) and the tiny tokenizer."""
    from training.tiny import tiny_llama

    out = tmp_path_factory.mktemp("llama")
    tiny_llama(tiny_tokenizer).save_pretrained(out)
    tiny_tokenizer.save_pretrained(out)
    return out


def _data_folder(name: str):
    from training import data

    missing = data.missing(name)
    if missing:
        pytest.skip(f"{data.folder(name)} lacks {len(missing)} file(s) of {name}; python -m training.data gets them")
    return data.folder(name)


@pytest.fixture
def mnist_dir():
    """MNIST's folder (../shared/data/mnist or .data/mnist); the test skips, with the reason, when it is absent."""
    return _data_folder("mnist")


@pytest.fixture
def books_dir():
    """The Gutenberg books' folder; the test skips, with the reason, when it is absent."""
    return _data_folder("gutenberg")
