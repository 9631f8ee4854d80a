"""The clinic's API: a FastAPI application that embeds Portico (see `app.main`)."""
