"""The core over HTTP: versioned JSON under ``/v1``, OpenAPI at ``/openapi.json``, an API key
per channel (``X-API-Key``), errors as ``application/problem+json``, ``/healthz``, ``/metrics``.

    from core.api.app import create_app
    app = create_app(core, api_keys={"dev-web-key": "web", ...})

``app`` declares the routes; ``lean`` answers a recharge's hot routes without FastAPI's
per-request machinery (same handlers, FastAPI for every refusal); ``middleware`` holds the
ASGI wrappers every request passes (body limit, metrics); ``limits`` and ``shedding`` the rate
limits and load shedding; ``schemas`` the request models; ``problems`` the error bodies.
"""
