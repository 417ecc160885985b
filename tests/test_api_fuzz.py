"""Bad input against the whole API: Schemathesis generates requests from the core's own
OpenAPI document (schema-valid and schema-invalid ones) for every operation, sends them to
the app in process (ASGI) with a key its route admits, and checks that nothing answers 5xx
and that every answer (status, content type, headers, body) is what the document says.

Business rules go beyond the schema (an MSISDN must be a real number of a served market), so
a schema-valid request refused with a 422 problem is expected, not a failure: the check
``positive_data_acceptance`` is left out. Examples per operation are limited to keep the
run under a minute; locally, ``RBENCH_FUZZ_EXAMPLES=200`` digs deeper.
"""
import os

import pytest
from hypothesis import HealthCheck, given, settings

try:
    import schemathesis
    from schemathesis.specs.openapi import checks as openapi_checks
except ImportError as e:                  # a test dependency: in CI it must be there
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        raise ImportError(f"schemathesis is required under CI ({e}); it is a test dependency "
                          "(schemathesis>=4.0,<5 in pyproject.toml)") from e
    pytest.skip(f"schemathesis is not installed ({e}): .venv/bin/pip install 'schemathesis>=4.0,<5'",
                allow_module_level=True)

from hil.server import app_for
from support import make_world

EXAMPLES = int(os.environ.get("RBENCH_FUZZ_EXAMPLES", "12"))
KEYS = {"/v1/ussd": "dev-ussd-key", "/v1/subscribers/{msisdn}": "dev-web-key"}


@pytest.fixture
def schema(sqlite_url):
    w = make_world(sqlite_url)
    w.line("DZ", "0551234567", "100")
    w.line("IR", "09121234567", "20000")
    w.core.meters.register("EG", "47500150231", kind="sts", tariff="EG-RES", customer="Mona Hassan")
    yield schemathesis.openapi.from_asgi("/openapi.json", app_for(w.core))
    w.core.close()


def test_no_5xx_and_every_answer_matches_the_document(schema):
    operations = [r.ok() for r in schema.get_all_operations()]
    assert len(operations) >= 30
    failures: list[str] = []
    for op in operations:
        key = KEYS.get(op.path, "dev-admin-key")

        @given(op.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        def fuzz(case):
            case.call_and_validate(headers={"X-API-Key": key},
                                   excluded_checks=[openapi_checks.positive_data_acceptance])
        try:
            fuzz()
        except BaseException as e:            # schemathesis reports a group of failures
            if isinstance(e, KeyboardInterrupt):
                raise
            failures.append(f"{op.label}: {str(e)[:1500]}")
    assert not failures, "\n\n".join(failures)


def test_the_document_tells_the_truth_about_problems_and_keys(schema):
    spec = schema.raw_schema
    topups = spec["paths"]["/v1/topups"]["post"]
    key = next(p for p in topups["parameters"] if p["name"].lower() == "idempotency-key")
    assert key["required"] and key["schema"]["maxLength"] == 255
    for status in ("401", "403", "422", "429"):
        assert "application/problem+json" in topups["responses"][status]["content"]
    assert "402" in topups["responses"] and "HTTPValidationError" not in spec["components"]["schemas"]
    assert spec["paths"]["/v1/admin/sweep"]["post"]["parameters"][0]["schema"]["maximum"] == 31_536_000
