"""
The application: ``services`` (the use cases; they see domain and ports only), ``wiring`` (the
settings model, the vendor registry, the DI container and what builds the stores) and
``entrypoints`` (the ASGI webhook app, the ``portico`` command line, the demo).
"""
