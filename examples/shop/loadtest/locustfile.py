"""Load on the shop's public pages and JSON API, plus a signed-in customer's order list.

Each simulated customer gets an access token from the OIDC provider's password grant on
start (the stack's exports are in the environment) and then browses: the catalogue page
and API most, single products (grouped under one name), their orders now and then.
Orders are not placed: that would load the payment mock and the mailbox, not the shop.

    locust -f loadtest/locustfile.py --headless -u 10 -r 10 -t 15s --host $WEB_URL
"""

from __future__ import annotations

import os
import random

from locust import HttpUser, between, task

PRODUCT_IDS = (1, 2, 3, 4)  # seeded by shop.seed


class Customer(HttpUser):
    wait_time = between(0.2, 1.0)

    def on_start(self) -> None:
        self.headers: dict[str, str] = {}
        response = self.client.post(
            os.environ["AUTH_TOKEN_URL"],
            data={
                "grant_type": "password",
                "username": os.environ.get("SHOP_LOAD_USER", "alice"),
                "password": os.environ.get("SHOP_LOAD_PASSWORD", "wonderland"),
                "scope": "openid profile email",
            },
            auth=(os.environ["AUTH_SHOP_CLIENT_ID"], os.environ["AUTH_SHOP_CLIENT_SECRET"]),
            name="(setup) OIDC password grant",
        )
        if response.ok:
            self.headers = {"Authorization": f"Bearer {response.json()['access_token']}"}

    @task(3)
    def home(self) -> None:
        self.client.get("/", name="/")

    @task(5)
    def products(self) -> None:
        self.client.get("/api/products", name="/api/products")

    @task(5)
    def product(self) -> None:
        product_id = random.choice(PRODUCT_IDS)
        self.client.get(f"/api/products/{product_id}", name="/api/products/{id}")

    @task(1)
    def my_orders(self) -> None:
        if self.headers:
            self.client.get("/api/orders", headers=self.headers, name="/api/orders")
