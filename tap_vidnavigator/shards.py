"""Shards: which of the configured items one run of the tap extracts.

With ``shard_count`` N and ``shard_index`` i, a run extracts only the profiles,
searches and task ids whose key hashes to i modulo N. The key is what the state is kept
by (a profile's canonical URL, a search's query, a task id), and the hash is SHA-256,
the same on every machine and Python: each item belongs to exactly one shard, and adding
or removing an item never moves another.
"""

from __future__ import annotations

import hashlib


def shard_of(key: str, count: int) -> int:
    """The shard (0 to count - 1) an item's key belongs to."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count
