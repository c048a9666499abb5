"""The hostile half of bench/bench_soak.py (issue 28): uploads, adapters, long texts, a probe of how long the others
make a light request wait, and the disk use of each folder the app writes.
"""

import itertools
import json
import os
import re
import struct
import tempfile
import threading
import time
import zlib
from pathlib import Path

import httpx
import torch

from generators.lm import lora
from generators.text import TextContinuation

XMP_GIF = b"GIF89a\x01\x00\x01\x00\x00\x00\x00" + b"<x:xmpmeta>" * 20_000  # the 220 KB, 22 s repro
ADAPTERS = 12  # distinct ones, in turn: past lora.CACHED (8), so the cache evicts


def _png(width: int, height: int) -> bytes:
    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))
    rows = zlib.compress(b"".join(b"\0" + b"\0" * width for _ in range(height)))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", rows) + chunk(b"IEND", b""))


def adapters(n: int) -> list[bytes]:
    """n distinct valid adapter files for the bundled model (random rank-2 LoRA weights, seeded)."""
    base = TextContinuation(torch.device("cpu")).load()
    targets, fan = lora.lora_targets(base.model)
    shapes = lora.expected_shapes(base.model, 2, targets, fan)
    config = {"base": "bundled", "base_sha256": lora.fingerprint(base.model), "model_type": "gpt2", "rank": 2,
              "alpha": 4, "target_modules": list(targets), "fan_in_fan_out": fan}
    out = []
    for seed in range(n):
        g = torch.Generator().manual_seed(seed)
        weights = {k: torch.randn(s, generator=g) * 0.01 for k, s in shapes.items()}
        out.append(lora.save_adapter(lora.LoraAdapter(weights, config)))
    return out


def events(url: str, api: str, data) -> tuple[str, object]:
    r = httpx.post(f"{url}gradio_api/call/{api}", json={"data": data}, timeout=300)
    if r.status_code != 200:
        return f"http {r.status_code}", r.text[:200]
    text = httpx.get(f"{url}gradio_api/call/{api}/{r.json()['event_id']}", timeout=300).text
    found = re.findall(r"event: (\w+)\ndata: (.*)\n", text)
    return found[-1][0], json.loads(found[-1][1])


def upload(url: str, name: str, data: bytes) -> dict:
    path = httpx.post(f"{url}gradio_api/upload", files={"files": (name, data)}, timeout=120).json()[0]
    return {"path": path, "orig_name": name, "meta": {"_type": "gradio.FileData"}}


class Hostile:
    """`work`: (api, call(url) -> (event, data), the event it must end with, a word its message must have)."""

    def __init__(self, url: str):
        info = httpx.get(f"{url}gradio_api/info", timeout=30).json()["named_endpoints"]
        self.text_params = [p["parameter_name"] for p in info["/continue_text"]["parameters"]]
        self.text_defaults = [p.get("parameter_default") for p in info["/continue_text"]["parameters"]]
        self.files = itertools.cycle(adapters(ADAPTERS))
        self.lock = threading.Lock()
        deep = (200_000).to_bytes(8, "little") + b"[" * 200_000
        self.work = [
            ("verify_image", lambda u: events(u, "verify_image", [upload(u, "x.gif", XMP_GIF)]), "complete", None),
            ("verify_image", lambda u: events(u, "verify_image", [upload(u, "w.png", _png(4097, 1))]), "error",
             "4096"),
            ("upload", self.chunked_upload, "http 413", None),
            ("continue_text", self.with_adapter, "complete", None),
            ("continue_text", lambda u: self.text(u, upload(u, "deep.safetensors", deep)), "error", "adapter"),
            ("detect_text", lambda u: events(u, "detect_text", [("The quick brown fox jumps. " * 400)[:10_000]]),
             "complete", None),
        ]

    def text(self, url: str, adapter: dict) -> tuple[str, object]:
        data = ["Once upon a time", 16, 0, *self.text_defaults[3:]]
        data[self.text_params.index("adapter")] = adapter
        return events(url, "continue_text", data)

    def with_adapter(self, url: str) -> tuple[str, object]:
        with self.lock:
            blob = next(self.files)
        return self.text(url, upload(url, "tuned.safetensors", blob))

    @staticmethod
    def chunked_upload(url: str) -> tuple[str, object]:
        head = b'------x\r\nContent-Disposition: form-data; name="files"; filename="big.bin"\r\n\r\n'

        def body():
            yield head
            for _ in range(11 * 16):
                yield b"\0" * 2**16
            yield b"\r\n------x--\r\n"
        r = httpx.post(f"{url}gradio_api/upload", content=body(), timeout=120,
                       headers={"content-type": "multipart/form-data; boundary=----x"})
        return f"http {r.status_code}", r.text[:200]


class Probe:
    """GET /gradio_api/info every `every` seconds on a thread of its own: how long a request that needs no model
    waits behind the others (the server's event loop, its GIL)."""

    def __init__(self, url: str, every: float = 0.5):
        self.url, self.every, self.times = url, every, []
        self._stop = threading.Event()

    def __enter__(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        with httpx.Client(timeout=300) as client:
            while not self._stop.wait(self.every):
                t0 = time.perf_counter()
                client.get(f"{self.url}gradio_api/info")
                self.times.append(time.perf_counter() - t0)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    @property
    def count(self) -> int:
        return len(self.times)

    @property
    def longest(self) -> float:
        return max(self.times, default=0.0)

    def quantile(self, q: float) -> float:
        times = sorted(self.times)
        return times[min(len(times) - 1, int(q * len(times)))] if times else 0.0


def disk_use(pid: int, uploads: str) -> dict[str, int]:
    """Bytes in each folder the server (process `pid`) writes: its media and examples folders, Gradio's uploads."""
    def size(folder) -> int:
        return sum(f.stat().st_size for f in Path(folder).rglob("*") if f.is_file()) if Path(folder).exists() else 0
    tmp = Path(tempfile.gettempdir())
    return {"media": sum(size(f) for f in tmp.glob(f"genai-playground-{pid}-*")),
            "examples": sum(size(f) for f in tmp.glob(f"genai-playground-example*-{pid}-*")),
            "uploads": size(uploads), "c2pa keys": size(os.environ.get("PLAYGROUND_C2PA_DIR")
                                                        or Path.home() / ".cache" / "genai-playground" / "c2pa")}
