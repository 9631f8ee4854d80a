"""
Replay stores: the three implementations of `ports.webhooks.ReplayStore`.

- `adapters.stores.memory.MemoryReplayStore`: bounded and in-process (tests, one worker).
- `adapters.stores.sqlite.SQLiteReplayStore`: the embedded default; survives restarts and is
  shared by the processes of one host through one file.
- `adapters.stores.redis_store.RedisReplayStore`: many workers on many hosts.

Import from the module paths, so the Redis client is only imported by those who use it.
"""
