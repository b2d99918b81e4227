"""The FastAPI app. `create_app(settings)` wires everything; `ossqa serve` runs it.

app = create_app(Settings(ossqa_data_dir=Path("/tmp/ossqa")))
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import torch
from fastapi import FastAPI

from service.api.routes import admin, ask, health, projects, search
from service.api.routes import feedback as feedback_routes
from service.api.routes import questions as questions_routes
from service.api.routes import widget as widget_routes
from service.bridges import discord as discord_bridge
from service.bridges import slack as slack_bridge
from service.container import Components, build_components
from service.cors import OriginPolicy, ProjectCORSMiddleware
from service.errors import install_error_handlers
from service.jobs import IngestJobs
from service.ratelimit import RateLimiter, RateLimitMiddleware
from service.settings import Settings
from service.startup_answers import start_answers

log = logging.getLogger("ossqa")


def create_app(settings: Settings | None = None, *, components: Components | None = None) -> FastAPI:
    """Build the app. Pass `components` to share already-open parts (tests, benchmarks)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = components is None
        # One intra-op thread per request: measured faster for single queries than two
        # threads competing on a busy 2-core machine (65 vs 218 ms to embed a query under load).
        torch.set_num_threads(settings.serve_torch_threads)
        comps = components or build_components(settings)
        app.state.components = comps
        app.state.jobs = IngestJobs(comps)
        answers = await start_answers(app, settings, comps)
        try:
            yield
        finally:
            await answers.aclose()
            app.state.jobs.shutdown()
            if owned:
                comps.close()

    # Every route takes a few KB at most (a 2,000-character question, a Slack event): the
    # limit keeps a client from making the server buffer an arbitrarily large body.
    app = FastAPI(title="ossqa", version="0.1.0", lifespan=lifespan, max_body_size=settings.max_body_bytes)
    app.state.settings = settings
    install_error_handlers(app)
    for module in (health, search, projects, admin, ask):
        app.include_router(module.router)
    for module in (widget_routes, feedback_routes, questions_routes, slack_bridge, discord_bridge):
        app.include_router(module.router)
    # Last added runs first: CORS wraps the limiter so a 429 still reaches the widget.
    app.state.rate_limiter = RateLimiter(per_min=settings.rate_limit_per_min)
    app.add_middleware(RateLimitMiddleware, limiter=app.state.rate_limiter)
    app.add_middleware(ProjectCORSMiddleware, policy=OriginPolicy.parse(settings.allowed_origins))
    return app
