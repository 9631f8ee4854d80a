"""
Adapters: one package per vendor (client, codec, errors, webhook verifier and parser, settings
and its `VendorSpec` in ``spec.py``), the in-memory fakes, the resilience pipeline, the stores.

A host rarely imports from here: `portico` has the everyday names and `portico.testing` the fakes,
the fake clock and the webhook signers.
"""
