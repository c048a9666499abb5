"""What a long-running server must give back after each request, beyond the media files (ui/kit/media.py) and the C
heap's free pages (generators/runtime/memory.py).

Measured with 150-request rounds of mixed calls (every digit endpoint, text, bad inputs) after 100 warm-up calls,
one process: RSS went 771 -> 792 -> 790 -> 797 MB, and glibc's malloc_trim(0) brought it to 712, 714 and 711 MB
after each round. Python's own objects did not grow (tracemalloc: the sessions Gradio keeps churn, capped by
app.SESSIONS); what grew was the C heap's free pages that glibc keeps per thread arena after torch's and
Pillow's buffers are freed. Besides, Gradio 6.31 keeps, for every session that called /gradio_api/call/<name>,
its finished event ids (`Queue.pending_event_ids_session`, never emptied on that route) and a message queue
(`pending_messages_per_session`, 2,000 kept): about 2 KB a request, unbounded for the ids.
"""

import time

PRUNE_EVERY = 30  # seconds between prunes of Gradio's per-session bookkeeping


class SessionPruner:
    """Drops Gradio's bookkeeping of sessions whose events are all finished and delivered.

    A session is dropped when none of its event ids is still held by the queue and its message queue is empty,
    at two prunes in a row: a message put just after its event left the queue is read before the second look.
    Must run on the server's event loop (the queue's dicts are read and written there without locks).
    """

    def __init__(self, every: float = PRUNE_EVERY):
        self.every, self.last, self.idle = every, time.monotonic(), set()

    def maybe_prune(self, queue) -> int:
        """Prunes if `every` seconds have passed since the last prune; how many sessions were dropped."""
        if time.monotonic() - self.last < self.every:
            return 0
        self.last = time.monotonic()
        return self.prune(queue)

    def prune(self, queue) -> int:
        live, idle, dropped = queue.event_ids_to_events, set(), 0
        for session, ids in list(queue.pending_event_ids_session.items()):
            messages = queue.pending_messages_per_session.get(session)
            if any(i in live for i in ids) or (messages is not None and not messages.empty()):
                continue
            if session in self.idle:
                queue.pending_event_ids_session.pop(session, None)
                queue.pending_messages_per_session.pop(session, None)
                dropped += 1
            else:
                idle.add(session)
        self.idle = idle
        return dropped
