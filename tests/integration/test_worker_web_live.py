"""The worker's web server answers anyone only with what is meant for anyone.

Every route a worker serves, requested without credentials: the operational pages
answer, Faust's own views (raw table state, the partition map, the topology, stats) are
not there, and ``/kpis`` (per-rep performance figures) needs the configured bearer
token, and is off when none is configured.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from streamer.kafka_admin import ensure_topics

from .kafka_helpers import isolated_settings

pytestmark = pytest.mark.kafka

TOKEN = "a-token-for-the-kpis"


def status_of(port: int, path: str, token: str | None = None) -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.mark.parametrize("token", [TOKEN, None], ids=["kpis-token-set", "no-kpis-token"])
async def test_every_route_without_credentials(make_worker, tmp_path, token) -> None:
    settings = isolated_settings(tmp_path, clock="event", store="memory://", kpis_token=token)
    await ensure_topics(settings)
    worker = make_worker(settings)
    worker.start()
    worker.wait_ready()
    port = settings.web_port

    # operational pages: for Prometheus, the probes and operators
    for path in ("/metrics", "/ready", "/live", "/progress"):
        status, _ = status_of(port, path)
        assert status == 200, path

    # Faust's built-in views would hand out raw state: /table/deals/<id>/ is a deal's
    # state, /router/ the partition map; none is served
    for path in (
        "/table/deals/",
        "/table/deals/deal-1/",
        "/table/reps/rep-1/",
        "/router/",
        "/router/deals/deal-1/",
        "/graph/",
        "/stats/",
    ):
        status, _ = status_of(port, path)
        assert status == 404, (path, status)

    # /kpis: per-rep figures only with the token
    status, body = status_of(port, "/kpis")
    if token is None:
        assert status == 403 and b"kpis_token" in body
        status, _ = status_of(port, "/kpis", "anything")
        assert status == 403
        return
    assert status == 401
    assert status_of(port, "/kpis", "not-the-token")[0] == 401
    status, body = status_of(port, "/kpis", TOKEN)
    assert status in (200, 503), body  # 503: no events yet, but past the gate
    assert "error" not in json.loads(body) or status == 503
