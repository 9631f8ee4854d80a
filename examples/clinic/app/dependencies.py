"""What the endpoints are handed: Portico's container, set on the app by `app.main.create_api`."""

from __future__ import annotations

from typing import Annotated

import portico
from fastapi import Depends, Request


def get_portico(request: Request) -> portico.Container:
    """The container this API was built with."""
    container: portico.Container = request.app.state.portico
    return container


Portico = Annotated[portico.Container, Depends(get_portico)]
