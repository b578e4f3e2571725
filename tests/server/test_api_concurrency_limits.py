"""``/api/concurrency_limits`` and ``/api/concurrency_slots``, on SQLite and PostgreSQL."""

from __future__ import annotations

import httpx


def _acquire(api: httpx.Client, holder: str, *tags: str, lease: float = 30) -> bool:
    response = api.post(
        "/concurrency_slots/acquire",
        json={"tags": list(tags), "holder": holder, "lease_seconds": lease},
    )
    assert response.status_code == 200, response.text
    return bool(response.json()["acquired"])


def test_create_read_list_update_delete(api: httpx.Client) -> None:
    created = api.post("/concurrency_limits", json={"tag": "gpu", "concurrency_limit": 2})
    assert created.status_code == 200
    assert created.json()["concurrency_limit"] == 2
    api.post("/concurrency_limits", json={"tag": "db/primary", "concurrency_limit": 1})
    assert api.get("/concurrency_limits/db/primary").json()["tag"] == "db/primary"
    assert api.get("/concurrency_limits/db%2Fprimary").json()["tag"] == "db/primary"
    changed = api.post("/concurrency_limits", json={"tag": "gpu", "concurrency_limit": 5})
    assert changed.json()["id"] == created.json()["id"]
    assert [(c["tag"], c["concurrency_limit"]) for c in api.get("/concurrency_limits").json()] == [
        ("db/primary", 1),
        ("gpu", 5),
    ]
    assert api.delete("/concurrency_limits/gpu").status_code == 204
    assert api.get("/concurrency_limits/gpu").status_code == 404
    assert api.delete("/concurrency_limits/gpu").status_code == 404


def test_bad_limits_are_422_naming_the_field(api: httpx.Client) -> None:
    negative = api.post("/concurrency_limits", json={"tag": "gpu", "concurrency_limit": -1})
    assert negative.status_code == 422
    assert negative.json()["errors"][0]["field"] == "concurrency_limit"
    empty = api.post("/concurrency_limits", json={"tag": "", "concurrency_limit": 1})
    assert empty.json()["errors"][0]["field"] == "tag"
    lease = api.post(
        "/concurrency_slots/acquire", json={"tags": ["a"], "holder": "h", "lease_seconds": 0}
    )
    assert lease.status_code == 422
    assert lease.json()["errors"][0]["field"] == "lease_seconds"


def test_slots_are_all_or_nothing_and_released(api: httpx.Client) -> None:
    api.post("/concurrency_limits", json={"tag": "a", "concurrency_limit": 1})
    api.post("/concurrency_limits", json={"tag": "b", "concurrency_limit": 2})
    assert _acquire(api, "h1", "a", "b", "unlimited")
    assert not _acquire(api, "h2", "a", "b")  # a is full: h2 takes nothing
    assert api.get("/concurrency_limits/b").json()["active_slots"] == 1
    assert _acquire(api, "h2", "b")
    assert _acquire(api, "h1", "a", "b")  # a holder re-acquiring keeps its slots
    assert api.get("/concurrency_limits/b").json()["active_slots"] == 2
    assert api.post(
        "/concurrency_slots/renew", json={"holder": "h1", "lease_seconds": 60}
    ).json() == {"slots": 2}
    assert api.post("/concurrency_slots/release", json={"holder": "h1"}).json() == {"slots": 2}
    assert _acquire(api, "h3", "a")
    assert _acquire(api, "anyone", "unlimited")


def test_expired_leases_free_their_slots(api: httpx.Client) -> None:
    api.post("/concurrency_limits", json={"tag": "a", "concurrency_limit": 1})
    assert _acquire(api, "dead", "a", lease=0.05)
    # The holder never renews; its lease expires and the slot is free again.
    from serverkit import wait_for

    wait_for(lambda: _acquire(api, "alive", "a"), timeout=10, what="the expired lease")
    assert api.get("/concurrency_limits/a").json()["active_slots"] == 1
