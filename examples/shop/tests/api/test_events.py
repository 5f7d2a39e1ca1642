"""An order's status is pushed as Server-Sent Events: pending -> paid -> packed -> shipped,
moved along by the shop's fulfilment task after the response to the order was sent."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from support import CARD_DECLINED, read_events

Place = Callable[..., httpx.Response]


def test_the_stream_follows_a_paid_order_to_shipped(
    place_order: Place, as_alice: httpx.Client
) -> None:
    order = place_order().json()
    assert order["status"] == "paid"  # when the order was answered; the rest comes by SSE

    events = read_events(as_alice, f"/orders/{order['id']}/events")

    statuses = [e.data for e in events if e.event == "status"]
    assert [s["status"] for s in statuses] == ["pending", "paid", "packed", "shipped"]
    assert [s["final"] for s in statuses] == [False, False, False, True]
    assert all(s["order_id"] == order["id"] for s in statuses)
    ids = [int(e.id or 0) for e in events if e.event == "status"]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert [e.id for e in events if e.event == "status"] == [str(s["id"]) for s in statuses]
    assert events[-1].event == "end"

    assert as_alice.get(f"/api/orders/{order['id']}").json()["status"] == "shipped"


def test_a_stream_can_start_after_a_known_event(place_order: Place, as_alice: httpx.Client) -> None:
    order = place_order().json()
    url = f"/orders/{order['id']}/events"
    first = [e for e in read_events(as_alice, url) if e.event == "status"]
    paid = next(e for e in first if e.data["status"] == "paid")

    # a reconnecting EventSource sends the last id it saw; a page names the last one it shows
    resumed = read_events(as_alice, url, headers={"Last-Event-ID": str(paid.id)})
    after = read_events(as_alice, f"{url}?after={paid.id}")

    for stream in (resumed, after):
        assert [e.data["status"] for e in stream if e.event == "status"] == ["packed", "shipped"]
        assert stream[-1].event == "end"
    assert [e.event for e in read_events(as_alice, f"{url}?after={first[-1].id}")] == ["end"]


def test_the_stream_of_a_failed_payment_ends_there(
    place_order: Place, as_alice: httpx.Client
) -> None:
    order = place_order(CARD_DECLINED).json()

    events = read_events(as_alice, f"/orders/{order['id']}/events")

    statuses = [e.data for e in events if e.event == "status"]
    assert [s["status"] for s in statuses] == ["pending", "payment_failed"]
    assert statuses[-1]["message"] == "Your card was declined."
    assert events[-1].event == "end"
