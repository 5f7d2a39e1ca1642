"""A customer's journey in a real browser: sign in at the OIDC provider, order with a
picture, watch the status arrive over Server-Sent Events, find the confirmation email,
sign out. Each test signs in on its own and places its own orders."""

from __future__ import annotations

import re
from urllib.parse import quote

from playwright.sync_api import FilePayload, Page, expect
from support import ALICE, CARD_DECLINED, CARD_OK, Account, png_bytes, stack_env


def sign_in(page: Page, account: Account) -> None:
    page.goto("/")
    page.get_by_role("link", name="Log in").click()
    # the provider's own login page
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.url.startswith(stack_env("AUTH_AUTHORIZATION_URL"))
    page.get_by_label("Username").fill(account.username)
    page.get_by_label("Password").fill(account.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("user")).to_have_text(account.name)


def place_order(page: Page, product: str, quantity: int, card: str) -> int:
    page.goto("/")
    page.locator(".product", has_text=product).get_by_role("link", name="Order").click()
    page.get_by_label("Quantity").fill(str(quantity))
    page.get_by_label("Card number").fill(card)
    page.get_by_role("button", name="Place order").click()
    expect(page).to_have_url(re.compile(r"/orders/\d+$"))
    return int(page.url.rsplit("/", 1)[1])


def test_an_order_with_a_picture_is_paid_shipped_and_confirmed(page: Page) -> None:
    sign_in(page, ALICE)
    page.goto("/")
    page.locator(".product", has_text="Tempstack Mug").get_by_role("link", name="Order").click()
    expect(page.get_by_label("Product")).to_have_value("1")
    page.get_by_label("Quantity").fill("2")
    page.get_by_label("Card number").fill(CARD_OK)
    picture = png_bytes(24, 16, (220, 90, 30))
    page.get_by_label("A picture to print on it").set_input_files(
        files=[FilePayload(name="print.png", mimeType="image/png", buffer=picture)]
    )
    expect(page.locator("#preview")).to_be_visible()
    expect(page.locator("#total")).to_have_text("€24.00")
    page.get_by_role("button", name="Place order").click()

    expect(page).to_have_url(re.compile(r"/orders/\d+$"))
    order_id = int(page.url.rsplit("/", 1)[1])
    # the page follows the order over SSE until the final event, then closes the stream
    expect(page.locator("#status")).to_have_text("Shipped")
    expect(page.locator("#live")).to_have_attribute("data-state", "done")
    expect(page.locator("#timeline li")).to_have_count(4)
    statuses = page.locator("#timeline li").evaluate_all(
        "items => items.map(i => i.dataset.status)"
    )
    assert statuses == ["pending", "paid", "packed", "shipped"]
    expect(page.locator("#payment-error")).to_be_hidden()

    image = page.locator("#order-image")
    expect(image).to_be_visible()
    assert image.evaluate("img => img.complete && img.naturalWidth") == 24

    # the mail service's web UI, as a person checking their inbox would
    subject = f"Your Tempstack Shop order #{order_id}"
    search = quote(f'subject:"{subject}"')
    page.goto(f"{stack_env('MAIL_URL')}/?q={search}")
    page.get_by_role("link", name=subject, exact=True).click()
    expect(page.get_by_role("heading", name=subject)).to_be_visible()
    expect(page.locator("pre")).to_contain_text("2 x Tempstack Mug, €24.00 in total")
    expect(page.locator("table")).to_contain_text(ALICE.email)


def test_a_declined_payment_is_shown_on_the_order(page: Page) -> None:
    sign_in(page, ALICE)

    order_id = place_order(page, "Teapot 418", 1, CARD_DECLINED)

    expect(page.locator("#status")).to_have_text("Payment failed")
    expect(page.get_by_role("alert")).to_have_text("Payment failed: Your card was declined.")
    expect(page.locator("#live")).to_have_attribute("data-state", "done")
    page.get_by_role("link", name="My orders").click()
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=f"#{order_id}"))
    expect(row).to_contain_text("Payment failed")


def test_a_bad_card_number_is_refused_by_the_form(page: Page) -> None:
    sign_in(page, ALICE)
    page.goto("/orders/new?product=2")

    page.get_by_label("Card number").fill("1234 5678 9012 3456")
    page.get_by_role("button", name="Place order").click()

    expect(page.get_by_role("alert")).to_contain_text("not valid")
    expect(page.get_by_label("Product")).to_have_value("2")
    expect(page.get_by_label("Card number")).to_have_value("1234 5678 9012 3456")


def test_signing_out_closes_the_protected_pages(page: Page, base_url: str) -> None:
    sign_in(page, ALICE)
    page.goto("/orders")
    expect(page.get_by_role("heading", name="My orders")).to_be_visible()

    page.get_by_role("button", name="Log out").click()

    # the provider ends its session too and sends the browser back to the shop
    expect(page).to_have_url(f"{base_url}/")
    expect(page.get_by_role("link", name="Log in")).to_be_visible()
    page.goto("/orders")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.url.startswith(stack_env("AUTH_AUTHORIZATION_URL"))
    page.goto("/orders/new")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
