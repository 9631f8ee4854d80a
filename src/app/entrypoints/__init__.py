"""The ways in: the ASGI webhook app, the ``portico`` command line and the demo story."""
