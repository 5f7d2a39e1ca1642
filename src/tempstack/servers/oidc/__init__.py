"""The ``oidc`` kind's server: an OpenID Connect provider built on authlib and Flask.

Run as ``python -m tempstack.servers.oidc CONFIG.json``. Everything lives in memory and
dies with the process: clients and users from the stack file, a fresh RSA signing key per
run, authorization codes, tokens and browser sessions.

- ``models``: clients, users, codes, tokens, sessions and the thread-safe store.
- ``keys``: the per-run signing key and the public JWKS.
- ``grants``: authlib grants and extensions (code + PKCE, refresh, password, client
  credentials), the JWT access-token generator and the ID-token extension.
- ``endpoints``: userinfo, revocation, introspection and RP-initiated logout.
- ``pages``: the HTML (login form, error page, logout pages).
- ``app``: the Flask app that wires it all to URLs.
"""
