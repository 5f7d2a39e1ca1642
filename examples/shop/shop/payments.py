"""The card payment provider ("Paywell", a Stripe-like API; an http-mock under tempstack).

A charge either succeeds or fails with a message for the customer. Every failure the
provider or the network can produce ends up as such a message, never as an exception: the
order then shows "payment failed" and why.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from shop.money import CURRENCY


@dataclass(frozen=True)
class Charge:
    ok: bool
    charge_id: str | None = None
    error: str | None = None  # for the customer, when not ok


class Payments:
    def __init__(self, base_url: str, api_key: str, http: httpx.AsyncClient) -> None:
        self.base_url = base_url
        self.api_key = api_key
        self.http = http

    async def charge(
        self, *, order_id: int, amount_cents: int, card_number: str, description: str
    ) -> Charge:
        try:
            response = await self.http.post(
                f"{self.base_url}/v1/charges",
                json={
                    "amount": amount_cents,
                    "currency": CURRENCY,
                    "source": card_number,
                    "description": description,
                    "metadata": {"order_id": str(order_id)},
                },
                headers={
                    "Authorization": f"Bearer {self.api_key}",
                    # the provider charges once per key, however often a request is retried
                    "Idempotency-Key": f"order-{order_id}",
                },
                timeout=10.0,
            )
        except httpx.HTTPError as exc:
            return Charge(ok=False, error=f"The payment provider could not be reached ({exc}).")
        body = _json(response)
        if response.is_success and body.get("status") == "succeeded" and body.get("id"):
            return Charge(ok=True, charge_id=str(body["id"]))
        error = body.get("error")
        message = error.get("message") if isinstance(error, dict) else None
        if response.status_code >= 500:
            detail = message or "no details given"
            return Charge(
                ok=False,
                error=f"The payment provider is unavailable ({response.status_code}): {detail}",
            )
        return Charge(
            ok=False,
            error=message or f"The payment was refused (provider answered {response.status_code}).",
        )


def _json(response: httpx.Response) -> dict[str, object]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
