"""Optimistic concurrency over real HTTP: ETag carries the revision, If-Match guards writes,
and concurrent changes of one server or integration never lose each other."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx2

from tests.foundation.test_api import server
from tests.integrations.conftest import EXAMPLE, SERVERS
from tests.servers.live_wi import LiveWI

SERVERS_URL = "/api/v1/outbound-servers"
INTEGRATION_URL = "/api/v1/integrations/Access Request"
WRITERS = 12


def _in_parallel(count: int, call: Callable[[int], httpx2.Response]) -> list[httpx2.Response]:
    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(call, range(count)))


def _add_integration(client: httpx2.Client) -> dict[str, Any]:
    for body in SERVERS:
        assert client.post(SERVERS_URL, json=body).status_code == 201
    created = client.post("/api/v1/integrations", json=EXAMPLE)
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


def test_server_reads_and_writes_carry_the_revision_as_etag(live_wi: LiveWI) -> None:
    with live_wi.client() as client:
        created = client.post(SERVERS_URL, json=server("itsm"))
        assert created.headers["etag"] == '"1"'
        read = client.get(f"{SERVERS_URL}/itsm")
        assert read.headers["etag"] == '"1"' and read.json()["revision"] == 1

        patched = client.patch(
            f"{SERVERS_URL}/itsm", json={"timeout_seconds": 12}, headers={"If-Match": '"1"'}
        )
        assert patched.status_code == 200, patched.text
        assert patched.headers["etag"] == '"2"' and patched.json()["revision"] == 2

        stale = client.put(
            f"{SERVERS_URL}/itsm",
            json=server("itsm", timeout_seconds=3),
            headers={"If-Match": '"1"'},
        )
        assert stale.status_code == 412
        assert stale.json()["detail"] == (
            "outbound server 'itsm' was changed by someone else since you read it (you had "
            "revision 1; it is now at revision 2). Read it again and reapply your change."
        )
        assert stale.headers["etag"] == '"2"'
        assert client.get(f"{SERVERS_URL}/itsm").json()["timeout_seconds"] == 12

        # Without If-Match (or with *), writes work as they always did.
        assert client.patch(f"{SERVERS_URL}/itsm", json={"enabled": False}).status_code == 200
        star = client.patch(
            f"{SERVERS_URL}/itsm", json={"enabled": True}, headers={"If-Match": "*"}
        )
        assert star.status_code == 200 and star.headers["etag"] == '"4"'

        garbage = client.patch(
            f"{SERVERS_URL}/itsm", json={"enabled": False}, headers={"If-Match": 'W/"4"'}
        )
        assert garbage.status_code == 412
        assert "If-Match must be one ETag" in garbage.json()["detail"]
        assert client.get(f"{SERVERS_URL}/itsm").json()["enabled"] is True


def test_integration_reads_and_writes_carry_the_revision_as_etag(live_wi: LiveWI) -> None:
    with live_wi.client() as client:
        revision = _add_integration(client)["revision"]
        read = client.get(INTEGRATION_URL)
        assert read.headers["etag"] == f'"{revision}"'

        patched = client.patch(
            INTEGRATION_URL, json={"enabled": False}, headers={"If-Match": f'"{revision}"'}
        )
        assert patched.status_code == 200, patched.text
        assert patched.headers["etag"] == f'"{revision + 1}"'

        stale = client.put(
            INTEGRATION_URL,
            json={**EXAMPLE, "routes": []},
            headers={"If-Match": f'"{revision}"'},
        )
        assert stale.status_code == 412
        assert (
            "integration of workflow 'Access Request' was changed by someone else"
            in (stale.json()["detail"])
        )
        view = client.get(INTEGRATION_URL).json()
        assert view["routes"] and view["enabled"] is False


def test_concurrent_server_patches_lose_no_update(live_wi_any_db: LiveWI) -> None:
    with live_wi_any_db.client() as client:
        start = client.post(SERVERS_URL, json=server("itsm")).json()["revision"]

    def patch(index: int) -> httpx2.Response:
        with live_wi_any_db.client() as client:
            return client.patch(f"{SERVERS_URL}/itsm", json={"timeout_seconds": 10 + index})

    responses = _in_parallel(WRITERS, patch)
    assert [r.status_code for r in responses] == [200] * WRITERS
    # Each patch changed the value its predecessor left, so each one counts once.
    assert sorted(r.json()["revision"] for r in responses) == list(
        range(start + 1, start + WRITERS + 1)
    )
    assert live_wi_any_db.services.servers.get("itsm").revision == start + WRITERS


def test_concurrent_integration_patches_lose_no_update(live_wi_any_db: LiveWI) -> None:
    with live_wi_any_db.client() as client:
        start = _add_integration(client)["revision"]

    def patch(index: int) -> httpx2.Response:
        with live_wi_any_db.client() as client:
            # A merge patch adds to the fields object: a lost update would drop a field.
            return client.patch(INTEGRATION_URL, json={"fields": {f"Extra {index}": "text_field"}})

    responses = _in_parallel(WRITERS, patch)
    assert [r.status_code for r in responses] == [200] * WRITERS
    view = live_wi_any_db.services.integrations.get("Access Request")
    assert {f"Extra {i}" for i in range(WRITERS)} <= set(view.fields)
    assert view.revision == start + WRITERS


def test_concurrent_writes_on_one_revision_let_exactly_one_through(
    live_wi_any_db: LiveWI,
) -> None:
    with live_wi_any_db.client() as client:
        revision = _add_integration(client)["revision"]

    def patch(index: int) -> httpx2.Response:
        with live_wi_any_db.client() as client:
            return client.patch(
                INTEGRATION_URL,
                json={"fields": {f"Extra {index}": "text_field"}},
                headers={"If-Match": f'"{revision}"'},
            )

    codes = sorted(r.status_code for r in _in_parallel(WRITERS, patch))
    assert codes == [200] + [412] * (WRITERS - 1)
    assert live_wi_any_db.services.integrations.get("Access Request").revision == revision + 1
