"""Application services: use cases that see domain and ports only, never adapters."""
