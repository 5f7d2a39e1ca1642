"""The ``mail`` kind's server: an SMTP catcher with a Mailpit-compatible HTTP API and web UI.

One asyncio process holds an aiosmtpd SMTP server and an aiohttp HTTP server; messages live
in memory only (the run's directory is thrown away anyway). Run as
``python -m tempstack.servers.mail CONFIG.json``.
"""
