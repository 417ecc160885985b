"""The core over HTTP: versioned JSON under ``/v1``, OpenAPI at ``/openapi.json``, an API key
per channel (``X-API-Key``), errors as ``application/problem+json``, ``/healthz``, ``/metrics``.

    from core.api.app import create_app
    app = create_app(core, api_keys={"dev-web-key": "web", ...})
"""
