"""
Webhook payload parsers: vendor JSON or form bodies in, domain events out.

One module per provider (`stripe`, `whatsapp` for Meta and 360dialog, `twilio`, `hubspot`,
`vapi`), all reading through the shared safe accessors of `_access`, so a malformed body is a
`MalformedWebhook` naming the field and never a KeyError. Each module's docstring documents the
dedup key (``event_id``) it gives every event.
"""
