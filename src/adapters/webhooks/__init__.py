"""
What every provider's webhooks share: signature helpers, the payload reader, the Standard
Webhooks verifier and the test signers. Each provider's own verifier and parser live in its
vendor package (``adapters.stripe.verifier``, ``adapters.stripe.parser``, ...).
"""
