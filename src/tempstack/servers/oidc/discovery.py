"""The OpenID Provider Metadata served at ``/.well-known/openid-configuration``."""

from __future__ import annotations

from typing import Any

from tempstack.servers.oidc.keys import ALGORITHM
from tempstack.servers.oidc.models import Store
from tempstack.spec.outside import RESERVED_CLAIMS

PATHS = {
    "authorization_endpoint": "/authorize",
    "token_endpoint": "/token",
    "userinfo_endpoint": "/userinfo",
    "jwks_uri": "/jwks",
    "end_session_endpoint": "/logout",
    "revocation_endpoint": "/revoke",
    "introspection_endpoint": "/introspect",
}
_STANDARD_CLAIMS = ["name", "preferred_username", "email", "email_verified"]


def metadata(issuer: str, store: Store, base: str | None = None) -> dict[str, Any]:
    """``base``: where the endpoints are, as the caller reached the provider. The issuer is
    an identity and stays one; the endpoints follow the address the document was fetched
    from, so a client reaching the provider by another name (a port-forward to a cluster)
    can use them."""
    clients = store.clients.values()
    secret_auth = ["client_secret_basic", "client_secret_post"]
    any_public = any(c.public for c in clients)
    custom = sorted({k for u in store.users for k in u.claims if k not in RESERVED_CLAIMS})
    return {
        "issuer": issuer,
        **{key: (base or issuer) + path for key, path in PATHS.items()},
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": sorted({g for c in clients for g in c.grant_types}),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [ALGORITHM],
        "scopes_supported": sorted({s for c in clients for s in c.scopes}),
        "token_endpoint_auth_methods_supported": secret_auth + ["none"] * any_public,
        "revocation_endpoint_auth_methods_supported": secret_auth + ["none"] * any_public,
        "introspection_endpoint_auth_methods_supported": secret_auth,
        "code_challenge_methods_supported": ["S256", "plain"],
        "prompt_values_supported": ["none", "login"],
        "claims_supported": [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "at_hash",
            "sid",
            *_STANDARD_CLAIMS,
            *custom,
        ],
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
    }
