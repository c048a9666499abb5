"""One bounded reachability check, so offline paths (Hub downloads, share links) fail in seconds, plainly."""

import os
import socket
import threading

PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")


def reachable(host: str, port: int = 443, timeout: float = 3.0) -> bool:
    """Whether a TCP connect to host:port succeeds within `timeout`, DNS included (a thread bounds the lookup).

    Behind a proxy a direct connect proves nothing, so the answer is True and the real request decides.
    """
    if any(os.environ.get(k) for k in PROXY_VARS):
        return True
    ok = []

    def probe():
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            ok.append(True)
        except OSError:
            pass

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(ok)
