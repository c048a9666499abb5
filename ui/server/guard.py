"""What stands between a public link and the app: a cap on request bodies, a login that slows down guessing, only
the app's own media files served, Pillow's decompression-bomb fence made strict, and Gradio's own input errors
(whose text holds the whole payload) turned into one short message and one log line.

`Guard` is a plain ASGI middleware (app.py hands it to FastAPI through launch(app_kwargs=...)); importing this
module sets the Pillow fence for the whole process.
"""

import logging
import math
import os
import re
import threading
import time
import warnings
from pathlib import Path

from PIL import Image

from ui.kit import media
from ui.kit.registry import table

log = logging.getLogger("playground")

# Pillow refuses to open an image past twice this many pixels, and (warning made an error) past this many:
# 32 Mpx is 8x the largest drawing the VAE takes (generators.vae.MAX_SIDE**2 = 16.8 Mpx).
Image.MAX_IMAGE_PIXELS = 32 * 2**20
warnings.simplefilter("error", Image.DecompressionBombWarning)

MAX_BODY = 4 * 2**20  # JSON calls: a text to fine-tune on may be 1 MB (generators.lm.corpus.MAX_TEXT_BYTES), 2 escaped
MAX_UPLOAD = 10 * 2**20  # uploads (Gradio checks each file against launch(max_file_size=...) as well)
MEDIA_TYPES = {".png": (b"\x89PNG\r\n\x1a\n", "image/png"), ".gif": (b"GIF8", "image/gif")}

MESSAGES = table("""
app_too_few: {api} takes {n} inputs ({names}); got {got}. | {api} 需要 {n} 个输入（{names}）；收到 {got} 个。
app_bad_input: {api}: input {index} ({name}) is not a valid {kind} value. | {api}：第 {index} 个输入（{name}）不是有效的 {kind} 值。
app_bad_call: {api}: the inputs could not be read. | {api}：无法读取输入。
app_too_long: The message was cut: {text}… | 消息已截断：{text}…
""")


def message(key: str, lang: str, **fields) -> str:
    """One of MESSAGES in "en" or "zh"."""
    return MESSAGES[key][1 if lang == "zh" else 0].format(**fields)


class LoginLimiter:
    """Failed logins per client: the first `free` are answered, then the client is locked out for 2, 4, 8, ...
    seconds (at most `longest`) after each further failure; a success clears its count."""

    def __init__(self, free: int = 5, longest: float = 300.0):
        self.free, self.longest = free, longest
        self._failures: dict[str, tuple[int, float]] = {}  # client -> (failures, locked until)
        self._lock = threading.Lock()

    def wait(self, client: str) -> float:
        """Seconds `client` must wait before its next try (0: it may try now)."""
        with self._lock:
            return max(0.0, self._failures.get(client, (0, 0.0))[1] - time.monotonic())

    def failed(self, client: str) -> None:
        with self._lock:
            n = self._failures.get(client, (0, 0.0))[0] + 1
            until = time.monotonic() + min(2.0 ** (n - self.free), self.longest) if n >= self.free else 0.0
            self._failures[client] = (n, until)
            if len(self._failures) > 10_000:  # bounded: forget clients whose lockout has passed
                now = time.monotonic()
                self._failures = {c: v for c, v in self._failures.items() if v[1] > now}

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)

    def reset(self) -> None:
        with self._lock:
            self._failures.clear()


LOGINS = LoginLimiter()


def client_of(scope) -> str:
    """The caller's address; behind a proxy on this machine (a share tunnel), the address that proxy appended."""
    host = (scope.get("client") or ("?", 0))[0]
    if host in ("127.0.0.1", "::1"):
        for name, value in scope.get("headers", ()):
            if name == b"x-forwarded-for":
                return value.decode("latin-1").split(",")[-1].strip() or host
    return host


def our_media(path: str) -> bool:
    """Whether `path` (a /file= URL's path) is a file under media.ROOT that the app wrote: a .png or .gif whose
    first bytes say so (so an .html, or a script named .png, placed there is never served), or a fine-tuned
    adapter (.safetensors: a little-endian 8-byte header length, then the header's JSON)."""
    suffix = Path(path).suffix.lower()
    if suffix not in MEDIA_TYPES and suffix != ".safetensors":
        return False
    try:
        with open(path, "rb") as f:
            head = f.read(9)
    except OSError:
        return False
    if suffix == ".safetensors":
        return head[8:9] == b"{"
    return head.startswith(MEDIA_TYPES[suffix][0])


class Guard:
    """ASGI middleware: body caps, login throttling, media files checked, `nosniff` on every response."""

    def __init__(self, app, max_body: int = MAX_BODY, max_upload: int = MAX_UPLOAD, logins: LoginLimiter = LOGINS):
        self.app, self.max_body, self.max_upload, self.logins = app, max_body, max_upload, logins

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        if "/file=" in path:
            target = os.path.abspath(path.split("/file=", 1)[1])
            if target.startswith(str(media.ROOT) + os.sep) and not our_media(target):
                return await _plain(send, 404, b"Not found.")
        limit = self.max_upload if path.rstrip("/").endswith("/upload") else self.max_body
        length = dict(scope.get("headers", ())).get(b"content-length", b"0")
        if not length.isdigit() or int(length) > limit:
            return await _plain(send, 413, b"Request body too large.")
        if scope["method"] == "POST" and path.rstrip("/").endswith("/login"):
            return await self._login(scope, receive, send)
        await self.app(scope, _capped(receive, limit), _nosniff(send))

    async def _login(self, scope, receive, send):
        client = client_of(scope)
        wait = self.logins.wait(client)
        if wait > 0:
            log.info("login: %s locked out for %.0f s", client, wait)
            return await _plain(send, 429, b"Too many failed logins; try again later.",
                                [(b"retry-after", str(math.ceil(wait)).encode())])
        status = {}

        async def watch(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)
        await self.app(scope, receive, _nosniff(watch))
        if status.get("code") == 200:
            self.logins.succeeded(client)
        else:
            self.logins.failed(client)


async def _plain(send, status: int, body: bytes, headers=()):
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"x-content-type-options", b"nosniff"),
                            *headers]})
    await send({"type": "http.response.body", "body": body})


def _nosniff(send):
    async def wrapped(message):
        if message["type"] == "http.response.start":
            message.setdefault("headers", [])
            message["headers"] = [*message["headers"], (b"x-content-type-options", b"nosniff")]
        await send(message)
    return wrapped


def _capped(receive, limit: int):
    """`receive` that refuses a body growing past `limit` (a chunked body has no content-length to check)."""
    seen = 0

    async def wrapped():
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > limit:
            raise ValueError("request body too large")
        return message
    return wrapped


def shorten(text: str, limit: int = 300) -> str:
    """`text` cut to `limit` characters (a message that quotes a huge payload)."""
    return text if len(text) <= limit else text[:limit] + "…"


def component_index(error: Exception) -> int | None:
    """The input index in Gradio's ComponentProcessingError text ("... component at index 2 ...")."""
    found = re.search(r"component at index (\d+)", str(error)[:400])
    return int(found.group(1)) if found else None
