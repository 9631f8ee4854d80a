"""Inbound webhooks: signature verifiers and payload parsers per provider."""
