"""`rbench serve` as a real process: it starts, answers /healthz, and takes a top-up."""
import os
import subprocess
import sys
import time

import httpx

from hil.server import free_port


def test_serve_process(tmp_path):
    port = free_port()
    env = dict(os.environ, RBENCH_API_KEYS="web=w1,admin=a1")
    proc = subprocess.Popen([sys.executable, "-m", "hil.cli", "serve", "--port", str(port),
                             "--db", f"sqlite:///{tmp_path / 's.db'}", "--log-level", "warning"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None, "rbench serve did not start"
            time.sleep(0.1)
        r = httpx.post(base + "/v1/subscribers", headers={"X-API-Key": "a1", "Idempotency-Key": "s1"},
                       json={"market": "EG", "msisdn": "01012345678"})
        assert r.status_code == 201
        r = httpx.post(base + "/v1/topups", headers={"X-API-Key": "w1", "Idempotency-Key": "t1"},
                       json={"market": "EG", "recipient": "01012345678", "amount": "50"})
        assert r.status_code == 201 and r.json()["gateway"] == "eg-3ds"
        assert httpx.post(base + "/v1/topups", headers={"X-API-Key": "dev-web-key"}, json={}).status_code == 401
    finally:
        proc.terminate()
        out = proc.communicate(timeout=10)[0]
    assert "rbench core on" in out and "development API keys" not in out
