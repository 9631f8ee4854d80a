"""The clinic's tests, on Portico's public API."""
