"""Adapters: fakes, HTTP vendor adapters, resilience decorators, stores. Nothing public here."""
