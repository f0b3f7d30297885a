"""``/api/v1/deliveries`` over real HTTP on SQLite and PostgreSQL, on queue-stored deliveries."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.delivery.surface import SECRETS, Seeded, seed, serve_without_engine
from tests.servers.live_wi import LiveWI
from workflow_integrator.settings import Settings

BIG = 2**63  # one past the largest 64-bit id


@pytest.fixture
def live_wi_any_db(any_db_settings: Settings) -> Iterator[LiveWI]:
    """WI over real HTTP on SQLite, then PostgreSQL, with no delivery engine running."""
    with serve_without_engine(any_db_settings) as live:
        yield live


@pytest.fixture
def seeded(live_wi_any_db: LiveWI) -> Seeded:
    """Five deliveries in five states on the live WI's database."""
    return seed(live_wi_any_db.services)


def listed(live: LiveWI, **params: Any) -> list[int]:
    """Ids the list answers for ``params``."""
    with live.client(live.viewer_token) as client:
        answer = client.get("/api/v1/deliveries", params=params)
    assert answer.status_code == 200, answer.text
    return [d["id"] for d in answer.json()["items"]]


def test_viewers_list_deliveries_newest_first_by_every_filter(
    live_wi_any_db: LiveWI, seeded: Seeded
) -> None:
    live, s = live_wi_any_db, seeded
    everything = [s.held, s.pending, s.retrying, s.dead, s.delivered]
    assert listed(live) == everything
    assert listed(live, state="dead") == [s.dead]
    assert listed(live, state=["dead", "delivered"]) == [s.dead, s.delivered]
    assert listed(live, state="pending,held") == [s.held, s.pending, s.retrying]
    assert listed(live, server="itsm") == [s.pending, s.dead, s.delivered]
    assert listed(live, server="remedy", state="held") == [s.held]
    assert listed(live, ticket_id=102) == [s.dead]
    assert listed(live, event_id=s.events[103]) == [s.retrying]
    assert listed(live, workflow="Firewall change") == everything
    assert listed(live, workflow="Other") == []
    assert listed(live, since="2026-03-01T09:30:00Z") == [s.held, s.pending]
    assert listed(live, until="2026-03-01T09:30:00+00:00") == [s.retrying, s.dead, s.delivered]

    with live.client(live.viewer_token) as client:
        row = client.get("/api/v1/deliveries", params={"state": "pending", "ticket_id": 103})
    [retrying] = row.json()["items"]
    assert retrying == {
        **retrying, "id": s.retrying, "state": "pending", "ticket_id": 103, "server": "jira",
        "point": "point 0", "workflow": "Firewall change", "attempts": 1,
        "next_attempt_at": "2026-03-01T09:05:00+00:00", "reason": "connect failed",
        "last_status": None,
    }


def test_the_list_pages_with_a_cursor(live_wi_any_db: LiveWI, seeded: Seeded) -> None:
    live, s = live_wi_any_db, seeded
    seen: list[int] = []
    cursor = None
    with live.client(live.viewer_token) as client:
        for _ in range(3):
            params: dict[str, Any] = {"limit": 2}
            if cursor is not None:
                params["cursor"] = cursor
            page = client.get("/api/v1/deliveries", params=params).json()
            seen += [d["id"] for d in page["items"]]
            cursor = page["next_cursor"]
    assert seen == [s.held, s.pending, s.retrying, s.dead, s.delivered]
    assert cursor is None


@pytest.mark.parametrize(
    ("params", "field", "says"),
    [
        ({"state": "lost"}, "state", "unknown state 'lost'"),
        ({"state": "dead,nope"}, "state", "unknown state 'nope'"),
        ({"server": "nowhere"}, "server", "no outbound server named 'nowhere'"),
        ({"ticket_id": "seven"}, "ticket_id", "enter a whole number"),
        ({"ticket_id": str(BIG)}, "ticket_id", "at most"),
        ({"event_id": "0"}, "event_id", "at least 1"),
        ({"since": "yesterday"}, "since", "datetime"),
        ({"since": "2026-03-02T00:00:00Z", "until": "2026-03-01T00:00:00Z"}, "until",
         "later than since"),
        ({"cursor": str(BIG)}, "cursor", "at most"),
        ({"limit": "0"}, "limit", "at least 1"),
    ],
)
def test_bad_filters_answer_422_naming_the_parameter(
    live_wi_any_db: LiveWI, params: dict[str, str], field: str, says: str
) -> None:
    with live_wi_any_db.client() as client:
        answer = client.get("/api/v1/deliveries", params=params)
    assert answer.status_code == 422, answer.text
    [entry] = answer.json()["detail"]
    assert entry["loc"] == ["query", field]
    assert says in entry["msg"]


def test_one_delivery_shows_every_attempt(live_wi_any_db: LiveWI, seeded: Seeded) -> None:
    live, s = live_wi_any_db, seeded
    with live.client(live.viewer_token) as client:
        dead = client.get(f"/api/v1/deliveries/{s.dead}").json()
        retrying = client.get(f"/api/v1/deliveries/{s.retrying}").json()
    assert dead["state"] == "dead" and dead["last_status"] == 400
    [record] = dead["attempt_records"]
    assert record["method"] == "POST" and record["url"] == "https://itsm.example/api"
    assert record["response_status"] == 400 and record["outcome"] == "dead"
    assert record["request_headers"][0] == ["Authorization", "Basic ********"]
    assert record["response_body"] == '{"error": "bad field"}'
    [failure] = retrying["attempt_records"]
    assert (failure["error_class"], failure["error_message"], failure["stage"]) == (
        "ConnectError", "connection refused", "connect")


@pytest.mark.parametrize("path", ["", "/replay", "/cancel"])
def test_unknown_and_out_of_range_ids_answer_404_or_422_never_500(
    live_wi_any_db: LiveWI, path: str
) -> None:
    method = "GET" if not path else "POST"
    body = {"reason": "x"} if path == "/cancel" else None
    with live_wi_any_db.client() as client:
        missing = client.request(method, f"/api/v1/deliveries/{BIG - 1}{path}", json=body)
        huge = client.request(method, f"/api/v1/deliveries/{BIG}{path}", json=body)
        negative = client.request(method, f"/api/v1/deliveries/-1{path}", json=body)
        words = client.request(method, f"/api/v1/deliveries/abc{path}", json=body)
    assert missing.status_code == 404
    assert missing.json()["detail"] == f"delivery {BIG - 1} does not exist"
    for answer in (huge, negative, words):
        assert answer.status_code == 422, answer.text
        assert answer.json()["detail"][0]["loc"] == ["path", "delivery_id"]


def test_admins_replay_one_delivery_as_a_new_series(live_wi_any_db: LiveWI, seeded: Seeded
                                                    ) -> None:
    live, s = live_wi_any_db, seeded
    with live.client() as client:
        replayed = client.post(f"/api/v1/deliveries/{s.dead}/replay")
        again = client.post(f"/api/v1/deliveries/{s.dead}/replay")
        in_flight = client.post(f"/api/v1/deliveries/{s.held}/replay")
    assert replayed.status_code == 200, replayed.text
    body = replayed.json()
    assert body["state"] == "pending" and body["replay_series"] == 1
    assert body["replayed_by"] == "test-admin" and body["attempts"] == 0
    # The first series' attempt stays recorded.
    assert [a["series"] for a in body["attempt_records"]] == [0]
    assert again.status_code == 409
    assert "is pending; only dead, delivered, cancelled" in again.json()["detail"]
    assert in_flight.status_code == 409


def test_bulk_replay_takes_dead_ones_unless_told_and_answers_how_many(
    live_wi_any_db: LiveWI, seeded: Seeded
) -> None:
    live, s = live_wi_any_db, seeded
    with live.client() as client:
        none_on_jira = client.post("/api/v1/deliveries/replay", json={"server": "jira"})
        dead = client.post("/api/v1/deliveries/replay", json={})
        delivered = client.post("/api/v1/deliveries/replay",
                                json={"state": ["delivered"], "ticket_id": 101})
        pending = client.post("/api/v1/deliveries/replay", json={"state": ["pending"]})
        unknown = client.post("/api/v1/deliveries/replay", json={"server": "nowhere"})
        extra = client.post("/api/v1/deliveries/replay", json={"states": ["dead"]})
    assert none_on_jira.json() == {"replayed": 0}
    assert dead.json() == {"replayed": 1}
    assert delivered.json() == {"replayed": 1}
    assert listed(live, state="pending") == [s.pending, s.retrying, s.dead, s.delivered]
    assert pending.status_code == 422
    assert pending.json()["detail"][0]["loc"] == ["body", "state"]
    assert "pending deliveries cannot be replayed" in pending.json()["detail"][0]["msg"]
    assert unknown.status_code == 422
    assert unknown.json()["detail"][0]["loc"] == ["body", "server"]
    assert extra.status_code == 422


def test_admins_cancel_pending_or_held_deliveries_with_a_reason(
    live_wi_any_db: LiveWI, seeded: Seeded
) -> None:
    live, s = live_wi_any_db, seeded
    with live.client() as client:
        held = client.post(f"/api/v1/deliveries/{s.held}/cancel",
                           json={"reason": "remedy is retired"})
        no_reason = client.post(f"/api/v1/deliveries/{s.pending}/cancel", json={"reason": ""})
        blank = client.post(f"/api/v1/deliveries/{s.pending}/cancel", json={"reason": "  "})
        delivered = client.post(f"/api/v1/deliveries/{s.delivered}/cancel",
                                json={"reason": "too late"})
    assert held.status_code == 200, held.text
    assert held.json()["state"] == "cancelled"
    assert (held.json()["cancelled_by"], held.json()["cancelled_why"]) == (
        "test-admin", "remedy is retired")
    for answer in (no_reason, blank):
        assert answer.status_code == 422
        assert answer.json()["detail"][0]["loc"] == ["body", "reason"]
    assert delivered.status_code == 409
    assert "is delivered; only pending, held" in delivered.json()["detail"]
    assert listed(live, state="cancelled") == [s.held]


def test_viewers_cannot_replay_or_cancel(live_wi_any_db: LiveWI, seeded: Seeded) -> None:
    live, s = live_wi_any_db, seeded
    with live.client(live.viewer_token) as client:
        answers = [
            client.post(f"/api/v1/deliveries/{s.dead}/replay"),
            client.post("/api/v1/deliveries/replay", json={}),
            client.post(f"/api/v1/deliveries/{s.pending}/cancel", json={"reason": "no"}),
        ]
    with live.client("not-a-token") as anonymous:
        answers.append(anonymous.get("/api/v1/deliveries"))
    assert [a.status_code for a in answers] == [403, 403, 403, 401]
    assert listed(live, state="dead") == [s.dead]


def test_no_secret_appears_in_any_deliveries_answer(live_wi_any_db: LiveWI, seeded: Seeded
                                                    ) -> None:
    live, s = live_wi_any_db, seeded
    with live.client() as client:
        texts = [client.get("/api/v1/deliveries").text]
        texts += [client.get(f"/api/v1/deliveries/{i}").text
                  for i in (s.delivered, s.dead, s.pending, s.retrying, s.held)]
        texts.append(client.post(f"/api/v1/deliveries/{s.dead}/replay").text)
        texts.append(client.post(f"/api/v1/deliveries/{s.pending}/cancel",
                                 json={"reason": "checking"}).text)
        texts.append(client.post("/api/v1/deliveries/replay", json={"state": ["delivered"]}).text)
    assert all(t for t in texts)
    for secret in SECRETS:
        assert not any(secret in t for t in texts), secret


def test_the_openapi_document_declares_every_answer(live_wi: LiveWI) -> None:
    with live_wi.client() as client:
        paths = client.get("/openapi.json").json()["paths"]
    declared = {
        (path, method): set(op["responses"])
        for path, ops in paths.items() if path.startswith("/api/v1/deliveries")
        for method, op in ops.items()
    }
    assert declared == {
        ("/api/v1/deliveries", "get"): {"200", "401", "403", "422"},
        ("/api/v1/deliveries/replay", "post"): {"200", "401", "403", "413", "415", "422"},
        ("/api/v1/deliveries/{delivery_id}", "get"): {"200", "401", "403", "404", "422"},
        ("/api/v1/deliveries/{delivery_id}/replay", "post"):
            {"200", "401", "403", "404", "409", "422"},
        ("/api/v1/deliveries/{delivery_id}/cancel", "post"):
            {"200", "401", "403", "404", "409", "413", "415", "422"},
    }
