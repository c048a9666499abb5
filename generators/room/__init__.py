"""The room: rounds of "real or generated?" played by everyone on the link, kept in one database.

    db.py        the engine (SQLite by default, PLAYGROUND_DB for another URL) and the versioned schema
    store.py     rounds issued with a one-time token, answered once, tallied; receipts summed
    limiter.py   answers per session and per client address, a sliding window
    receipts.py  each generation's wall time, CPU seconds and estimated energy and CO2
    rounds.py    a digits round and a text round, drawn from the family adapters given to it

No module here imports from ui/; the tab (ui/tabs/room_tab.py) words the errors (generators.core.errors keys "room_*").
The room's sizes live here: the tab builds without sqlalchemy (store.py), and the database opens at first use.
"""

KINDS = ("digits", "text")
ITEMS = 8  # items in a round; the marks must be this many booleans
TTL = 3600.0  # seconds a round may be answered after it was issued
BUCKET, BUCKETS = 600, 6  # the last hour in six ten-minute steps
