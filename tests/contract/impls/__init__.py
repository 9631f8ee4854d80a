"""
Implementations under contract: each module defines ``FACTORIES[port][impl_id]``.

A factory is a zero-argument callable returning an async context manager that yields a `Harness`.
"""
