"""``kind = "oidc"``: an OpenID Connect provider with clients and users from the stack file."""

from __future__ import annotations

import secrets

from tempstack.services.base import ServicePlan, spec_as
from tempstack.services.server import ServerKind
from tempstack.spec.model import ServiceSpec
from tempstack.spec.outside import OidcService, client_slug


class OidcKind(ServerKind):
    name = "oidc"
    module = "oidc"
    requires = ("authlib", "joserfc", "flask", "cryptography")
    #: tokens carry one ``iss``, the one the app inside a cluster validates against
    identities: tuple[str, ...] = ("issuer",)

    def attributes(self, spec: ServiceSpec) -> frozenset[str]:
        names = {"url", "host", "port", "issuer", "discovery_url", "jwks_url", "token_url"}
        names |= {"authorization_url", "userinfo_url", "client_id", "client_secret"}
        names |= {"logout_url", "revocation_url", "introspection_url"}
        for client in spec_as(spec, OidcService).clients:
            slug = client_slug(client.id)
            names |= {f"{slug}_client_id", f"{slug}_client_secret"}
        return frozenset(names)

    def make_secrets(self, spec: ServiceSpec) -> dict[str, str]:
        """One secret per confidential client: the given one, or a fresh one per run."""
        return {
            f"client:{c.id}": c.secret or secrets.token_urlsafe(24)
            for c in spec_as(spec, OidcService).clients
            if not c.public
        }

    def config_is_secret(self, spec: ServiceSpec) -> bool:
        """The users' passwords are in the spec."""
        return bool(spec_as(spec, OidcService).users)

    def exports(self, plan: ServicePlan) -> dict[str, str]:
        url = f"http://{plan.host}:{plan.port}"
        out = {
            "host": plan.host,
            "port": str(plan.port),
            "url": url,
            "issuer": url,
            "discovery_url": f"{url}/.well-known/openid-configuration",
            "jwks_url": f"{url}/jwks",
            "token_url": f"{url}/token",
            "authorization_url": f"{url}/authorize",
            "userinfo_url": f"{url}/userinfo",
            "logout_url": f"{url}/logout",
            "revocation_url": f"{url}/revoke",
            "introspection_url": f"{url}/introspect",
        }
        for i, client in enumerate(spec_as(plan.spec, OidcService).clients):
            secret = plan.secrets.get(f"client:{client.id}", "")
            slug = client_slug(client.id)
            out[f"{slug}_client_id"] = client.id
            out[f"{slug}_client_secret"] = secret
            if i == 0:
                out["client_id"], out["client_secret"] = client.id, secret
        return out
