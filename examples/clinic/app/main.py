"""
The clinic's API with Portico embedded: run it from this folder with ``uvicorn app.main:api``.

- ``POST /leads`` and ``POST /payments`` are the clinic's own endpoints, on Portico's services.
- ``POST /webhooks/{provider}`` (``stripe``, ``whatsapp``, ...) is Portico's webhook app, mounted
  at ``/webhooks``: verified, deduplicated deliveries; ``GET /webhooks/healthz`` is its liveness.
- ``portico.lifespan`` runs the outbox relay while the API runs (webhook side effects such as
  receipts and deal moves are delivered by it) and closes Portico's stores and clients on exit.

Configuration is Portico's: the ``PORTICO_*`` variables, or the fake environment by default
(in-memory vendors, no network, the published development webhook secrets).
"""

from __future__ import annotations

import portico
from fastapi import FastAPI
from portico.app.entrypoints.access_log import install_access_log_filter

from .errors import install_error_handlers
from .routers import leads, payments


def create_api(container: portico.Container) -> FastAPI:
    """The API around ``container``; tests build one on a container of their own."""
    api = FastAPI(title="Clinic", lifespan=portico.lifespan(container))
    api.state.portico = container
    install_error_handlers(api)
    api.include_router(leads.router)
    api.include_router(payments.router)
    api.mount("/webhooks", portico.create_webhook_app(container))
    return api


container = portico.create_container()
api = create_api(container)
# Meta's subscription handshake carries its verify token in the query string: keep it out of
# uvicorn's access log (``portico serve`` does the same).
install_access_log_filter()
