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
from http.cookies import CookieError, SimpleCookie
from pathlib import Path

from PIL import Image

from gradio.utils import get_upload_folder

from ui.kit import media
from ui.kit.disk import UploadCap
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
    """Failed logins per client: the first `free` are answered, then the client is locked out for `first` seconds,
    then twice as long after each further failure (at most `longest`); a success clears its count.

    A try is reserved before it runs (`begin`), under the lock: tries sent in parallel count as they start, so 60 at
    once get `free` answers, not as many as start before the first failure is counted."""

    def __init__(self, free: int = 5, first: float = 1.0, longest: float = 300.0):
        self.free, self.first, self.longest = free, first, longest
        self._failures: dict[str, tuple[int, float, int]] = {}  # client -> (failures, locked until, tries running)
        self._lock = threading.Lock()

    def wait(self, client: str) -> float:
        """Seconds `client` must wait before its next try (0: it may try now)."""
        with self._lock:
            return max(0.0, self._failures.get(client, (0, 0.0, 0))[1] - time.monotonic())

    def begin(self, client: str) -> float:
        """Reserves a try: 0 when `client` may try now (then `failed`, `succeeded` or `ended` must follow), else the
        seconds to wait (a try still running may lock the client out: 1 s)."""
        with self._lock:
            n, until, running = self._failures.get(client, (0, 0.0, 0))
            wait = until - time.monotonic()
            if wait > 0:
                return wait
            if running and n + running >= self.free:
                return 1.0
            self._failures[client] = (n, until, running + 1)
            return 0.0

    def failed(self, client: str) -> None:
        with self._lock:
            n, _, running = self._failures.get(client, (0, 0.0, 1))
            n += 1
            until = time.monotonic() + min(self.first * 2.0 ** (n - self.free), self.longest) if n >= self.free else 0.0
            self._failures[client] = (n, until, max(0, running - 1))
            if len(self._failures) > 10_000:  # bounded: forget clients whose lockout has passed
                now = time.monotonic()
                self._failures = {c: v for c, v in self._failures.items() if v[1] > now or v[2]}

    def ended(self, client: str) -> None:
        """A reserved try ended without an answer on the password (an error, a disconnect)."""
        with self._lock:
            if client in self._failures:
                n, until, running = self._failures[client]
                self._failures[client] = (n, until, max(0, running - 1))

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)

    def reset(self) -> None:
        with self._lock:
            self._failures.clear()


LOGINS = LoginLimiter()
UPLOADS_CAP = UploadCap()  # ui/kit/disk.py
FORWARDED_ENV = "PLAYGROUND_FORWARDED_ALLOW_IPS"  # app.py --forwarded-allow-ips sets it


def trust_proxies(ips: str | None = None) -> None:
    """Believes X-Forwarded-For from these comma-separated addresses only (default: PLAYGROUND_FORWARDED_ALLOW_IPS,
    else none). uvicorn, which Gradio serves with, rewrites a request's client from that header before any
    middleware sees it, for the proxies in FORWARDED_ALLOW_IPS (127.0.0.1 and ::1 unless set): so that is set too,
    before launch. Called on import and by app.py's --forwarded-allow-ips."""
    ips = os.environ.get(FORWARDED_ENV, "") if ips is None else ips
    os.environ[FORWARDED_ENV] = os.environ["FORWARDED_ALLOW_IPS"] = ips


def trusted_proxies() -> frozenset[str]:
    """The addresses whose X-Forwarded-For is believed (comma-separated in PLAYGROUND_FORWARDED_ALLOW_IPS; none by
    default: a client can write that header itself, and rotate it to dodge the login throttle)."""
    return frozenset(filter(None, (a.strip() for a in os.environ.get(FORWARDED_ENV, "").split(","))))


trust_proxies()


def client_of(scope, proxies: frozenset[str] | None = None) -> str:
    """The caller's address; behind a trusted proxy (`trusted_proxies`), the last address that proxy appended."""
    host = (scope.get("client") or ("?", 0))[0]
    if host in (trusted_proxies() if proxies is None else proxies):
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
        if _LOGIN_ONLY.search(path) and not _logged_in(scope):
            return await _plain(send, 401, b"Not authenticated.")
        limit = self.max_upload if path.rstrip("/").endswith("/upload") else self.max_body
        length = dict(scope.get("headers", ())).get(b"content-length")
        if length is None and scope["method"] in ("POST", "PUT", "PATCH"):  # chunked: read it whole, then decide
            receive = await _buffered(receive, limit)
        if receive is None or (length is not None and (not length.isdigit() or int(length) > limit)):
            log.info("%s: body over %d bytes refused (413)", path, limit)
            return await _plain(send, 413, b"Request body too large.")
        if limit == self.max_upload and scope["method"] == "POST" and UPLOADS_CAP.full(get_upload_folder()):
            log.info("%s: upload folder over %d MB, refused (503)", path, UPLOADS_CAP.cap // 2**20)
            return await _plain(send, 503, b"Uploads are paused: the server's upload folder is full. Try again in a "
                                           b"few minutes.", [(b"retry-after", b"60")])
        if scope["method"] == "POST" and path.rstrip("/").endswith("/login"):
            return await self._login(scope, receive, send)
        await self.app(scope, _capped(receive, limit), _nosniff(send))

    async def _login(self, scope, receive, send):
        client = client_of(scope)
        wait = self.logins.begin(client)
        if wait > 0:
            log.info("login: %s locked out for %.0f s", client, wait)
            text = f"Too many failed logins: locked out for {math.ceil(wait)} s. Until then every password is refused."
            return await _plain(send, 429, text.encode(), [(b"retry-after", str(math.ceil(wait)).encode())])
        status = {}

        async def watch(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)
        try:
            await self.app(scope, receive, _nosniff(watch))
        finally:
            code = status.get("code")
            self.logins.succeeded(client) if code == 200 else self.logins.failed(client) if code else \
                self.logins.ended(client)


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


# Gradio's own routes that answer without a login even when the app has one (Gradio 6.31, gradio/routes.py):
# /cancel ends any event whose session hash and event id the caller knows, /heartbeat/<session> holds a connection
# open for as long as the caller likes, /runs serves the run-history page. /manifest.json stays open: it holds the
# app's title and icons, which the browser asks for before the login page.
_LOGIN_ONLY = re.compile(r"/gradio_api/(?:cancel|heartbeat/[^/]*|runs)/?$")


def _logged_in(scope) -> bool:
    """Whether the request carries a login that Gradio's app knows (always, where the app has no password)."""
    app = scope.get("app")
    if app is None or (getattr(app, "auth", None) is None and getattr(app, "auth_dependency", None) is None):
        return True
    if getattr(app, "auth_dependency", None) is not None:
        return True  # an OAuth or custom login: Gradio's own checks apply
    cookies = SimpleCookie()
    for name, value in scope.get("headers", ()):
        if name == b"cookie":
            try:
                cookies.load(value.decode("latin-1"))
            except CookieError:
                return False
    tokens = [cookies[k].value for k in (f"access-token-{app.cookie_id}", f"access-token-unsecure-{app.cookie_id}")
              if k in cookies]
    return any(t in app.tokens for t in tokens)


async def _buffered(receive, limit: int):
    """A chunked body (no content-length) read in full before the app sees any of it, so that one over `limit` is
    refused with nothing written (Gradio's upload route would leave a partial file, and answer 500): a `receive`
    that replays it and then listens on, or None when it is over `limit`. Held in memory: at most `limit` a request.
    """
    parts, seen = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            parts.append(message)
            break
        seen += len(message.get("body", b""))
        if seen > limit:
            return None
        parts.append(message)
        if not message.get("more_body", False):
            break

    async def replay():
        return parts.pop(0) if parts else await receive()
    return replay


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
