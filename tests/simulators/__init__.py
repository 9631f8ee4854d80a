"""Stateful vendor simulators: plain ASGI 3 apps that behave like the vendors where it matters."""
