"""The FastAPI app. `create_app(settings)` wires everything; `ossqa serve` runs it.

app = create_app(Settings(ossqa_data_dir=Path("/tmp/ossqa")))
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from service.api.routes import admin, health, projects, search
from service.container import Components, build_components
from service.errors import install_error_handlers
from service.jobs import IngestJobs
from service.settings import Settings

log = logging.getLogger("ossqa")


def create_app(settings: Settings | None = None, *, components: Components | None = None) -> FastAPI:
    """Build the app. Pass `components` to share already-open parts (tests, benchmarks)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = components is None
        comps = components or build_components(settings)
        app.state.components = comps
        app.state.jobs = IngestJobs(comps)
        try:
            yield
        finally:
            app.state.jobs.shutdown()
            if owned:
                comps.close()

    app = FastAPI(title="ossqa", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    install_error_handlers(app)
    for module in (health, search, projects, admin):
        app.include_router(module.router)
    return app
