"""The provider's signing key: RSA 2048, generated at startup, never written to disk."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from joserfc.jwk import KeySet, RSAKey

ALGORITHM = "RS256"


@dataclass(frozen=True)
class SigningKeys:
    private: KeySet  # signs; a set so joserfc puts the key's ``kid`` in every JWS header
    public: KeySet  # verifies: the id_token_hint at logout, bearer tokens

    @property
    def kid(self) -> str:
        kid = self.private.keys[0].kid
        assert kid is not None
        return kid

    def jwks(self) -> dict[str, Any]:
        """The public JWKS document served at ``/jwks``."""
        return dict(self.public.as_dict())


def generate() -> SigningKeys:
    key = RSAKey.generate_key(
        2048, parameters={"use": "sig", "alg": ALGORITHM}, private=True, auto_kid=True
    )
    public = RSAKey.import_key(key.as_dict(private=False))
    return SigningKeys(private=KeySet([key]), public=KeySet([public]))
