"""
Portico's errors as HTTP answers: bad input is 422, a vendor that may recover is 503 with
``Retry-After``, any other vendor failure is 502. Portico's messages never carry secrets or
patient data, so they can be shown.
"""

from __future__ import annotations

import portico
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


RETRY_AFTER_SECONDS = "5"


async def _invalid(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=422)


async def _vendor(_: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, portico.TransientError | portico.LocalRejection):
        headers = {"retry-after": RETRY_AFTER_SECONDS}
        return JSONResponse({"detail": str(exc)}, status_code=503, headers=headers)
    return JSONResponse({"detail": str(exc)}, status_code=502)


def install_error_handlers(api: FastAPI) -> None:
    """Answer Portico's errors on every endpoint of ``api``."""
    api.add_exception_handler(portico.InvalidValue, _invalid)
    api.add_exception_handler(portico.IntegrationError, _vendor)
