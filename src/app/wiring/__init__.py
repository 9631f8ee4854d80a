"""
The composition root: settings loaded and validated once, the vendor registry, the container
that builds every adapter, store and service from them, and the host's `lifespan`.
"""
