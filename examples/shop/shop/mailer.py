"""The order confirmation email, sent with smtplib to the configured SMTP server."""

from __future__ import annotations

import asyncio
import smtplib
from email.message import EmailMessage
from email.utils import make_msgid
from html import escape

from shop.money import money


class Mailer:
    def __init__(self, host: str, port: int, sender: str, base_url: str) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.base_url = base_url

    def confirmation(
        self, *, order_id: int, to: str, name: str | None, product: str, quantity: int, total: int
    ) -> EmailMessage:
        link = f"{self.base_url}/orders/{order_id}"
        msg = EmailMessage()
        msg["Subject"] = f"Your Tempstack Shop order #{order_id}"
        msg["From"] = self.sender
        msg["To"] = to
        msg["Message-ID"] = make_msgid(f"order-{order_id}", domain="shop.example")
        greeting = f"Hello {name}," if name else "Hello,"
        msg.set_content(
            f"{greeting}\n\n"
            f"thank you for your order #{order_id}: {quantity} x {product}, "
            f"{money(total)} in total. Your payment was received.\n\n"
            f"Follow it here: {link}\n\n"
            "-- The Tempstack Shop\n"
        )
        msg.add_alternative(
            f"<p>{escape(greeting)}</p>"
            f"<p>thank you for your order <strong>#{order_id}</strong>: {quantity} &times; "
            f"{escape(product)}, <strong>{money(total)}</strong> in total. "
            "Your payment was received.</p>"
            f'<p><a href="{link}">Follow your order</a></p>'
            "<p>&mdash; The Tempstack Shop</p>",
            subtype="html",
        )
        return msg

    def _send(self, msg: EmailMessage) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=10) as smtp:
            smtp.send_message(msg)

    async def send(self, msg: EmailMessage) -> None:
        await asyncio.to_thread(self._send, msg)
