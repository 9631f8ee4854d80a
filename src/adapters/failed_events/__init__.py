"""
Failed-event logs: the implementations of `ports.failed_events.FailedEventLog`.

- `adapters.failed_events.memory.MemoryFailedEventLog`: bounded, in-process (tests, one worker).
- `adapters.failed_events.sqlite.SQLiteFailedEventLog`: the default; one file, survives restarts.
"""
