"""The application: services, the DI container, the CLI and the ASGI webhook app."""
