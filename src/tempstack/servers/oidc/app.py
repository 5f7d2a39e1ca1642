"""The Flask app: URLs, the login form, the session cookie and the logout flow."""

from __future__ import annotations

import os
import time
from typing import Any

from authlib.integrations.flask_oauth2 import (  # type: ignore[import-untyped]
    AuthorizationServer,
    ResourceProtector,
)
from authlib.oauth2.rfc6749.errors import OAuth2Error  # type: ignore[import-untyped]
from authlib.oidc.core.errors import LoginRequiredError  # type: ignore[import-untyped]
from flask import Flask, Response, jsonify, request

from tempstack.servers.config import HEALTH_PATH
from tempstack.servers.oidc import discovery, pages
from tempstack.servers.oidc.endpoints import (
    BearerTokens,
    EndSession,
    Introspection,
    Revocation,
    UserInfo,
)
from tempstack.servers.oidc.grants import (
    AccessTokens,
    AuthorizationCodeGrant,
    ClientCredentialsGrant,
    CodeIdTokens,
    IdTokens,
    PasswordGrant,
    Pkce,
    RefreshTokenGrant,
)
from tempstack.servers.oidc.keys import SigningKeys
from tempstack.servers.oidc.models import Session, Store, Token, split_scope

#: What a browser app (a public client calling from JavaScript) must be able to reach.
_CORS_PATHS = frozenset(
    {"/.well-known/openid-configuration", "/jwks", "/token", "/userinfo", "/revoke"}
)


class OidcServer(AuthorizationServer):  # type: ignore[misc]
    """authlib's Flask authorization server over the in-memory store."""

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.store = store  # the grants reach it as ``grant.server.store``

    def query_client(self, client_id: str) -> Any:
        return self.store.client(client_id)

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        # the sign-in this token descends from: a code (browser session) or a refresh token
        source = request.authorization_code or request.refresh_token
        user = request.user
        self.store.add_token(
            Token(
                access_token=token["access_token"],
                client=request.client,
                user=user,
                scope=token.get("scope", ""),
                expires_in=int(token["expires_in"]),
                refresh_token=token.get("refresh_token"),
                sid=source.sid if source is not None else None,
                auth_time=(
                    source.auth_time
                    if source is not None
                    else (int(time.time()) if user is not None else None)
                ),
            )
        )
        who = f" as {user.subject}" if user is not None else ""
        print(
            f"token: {request.payload.grant_type} for {request.client.client_id}{who}, "
            f"scope {token.get('scope') or '-'}"
        )


def build_server(store: Store, keys: SigningKeys, issuer: str, ttl: int, cookie: str) -> OidcServer:
    server = OidcServer(store)
    server.register_token_generator("default", AccessTokens(issuer, keys, ttl))
    server.register_grant(
        AuthorizationCodeGrant, [CodeIdTokens(issuer, keys, ttl, store), Pkce(required=True)]
    )
    server.register_grant(RefreshTokenGrant, [IdTokens(issuer, keys, ttl)])
    server.register_grant(PasswordGrant, [IdTokens(issuer, keys, ttl)])
    server.register_grant(ClientCredentialsGrant)
    protector = ResourceProtector()
    protector.register_token_validator(BearerTokens(store))
    server.register_endpoint(UserInfo(issuer, keys, protector))
    server.register_endpoint(Revocation(store))
    server.register_endpoint(Introspection(issuer, store))
    server.register_endpoint(EndSession(keys, store, lambda: request.cookies.get(cookie)))
    return server


def create_app(store: Store, keys: SigningKeys, issuer: str, ttl: int, cookie: str) -> Flask:
    """The provider as a WSGI app; ``cookie`` names the browser-session cookie.

    The cookie name carries the port: cookies are scoped by host, not port, so two
    providers (or the app under test) on 127.0.0.1 would otherwise overwrite each other.
    """
    # Plain HTTP on loopback by design: authlib refuses non-TLS requests unless the Host is
    # localhost or an IP, which would break names from /etc/hosts or a proxy in front.
    os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")
    app = Flask(__name__)
    server = build_server(store, keys, issuer, ttl, cookie)

    def current_session() -> Session | None:
        return store.session(request.cookies.get(cookie))

    def error_page(
        heading: str, error: OAuth2Error | str, description: str | None = None
    ) -> Response:
        if isinstance(error, OAuth2Error):
            error, description = error.error, error.description
        html = pages.error(issuer, heading, str(error), description)
        return Response(html, status=400, mimetype="text/html")

    def authorize_error(error: OAuth2Error) -> Response:
        # authlib sets redirect_uri only once the client and its redirect_uri are verified;
        # otherwise the error must stay here (RFC 6749 section 4.1.2.1)
        if error.redirect_uri:
            response: Response = server.handle_error_response(None, error)
            return response
        print(f"authorize refused: {error.error}: {error.description}")
        return error_page("Sign-in error", error)

    def approve(grant: Any, session: Session) -> Response:
        grant.session = session
        response: Response = server.create_authorization_response(
            grant_user=session.user, grant=grant
        )
        return response

    @app.get(HEALTH_PATH)
    def health() -> Response:
        return Response("ok\n", mimetype="text/plain")

    @app.get("/.well-known/openid-configuration")
    def openid_configuration() -> Response:
        return jsonify(discovery.metadata(issuer, store, request.host_url.rstrip("/")))

    @app.get("/jwks")
    def jwks() -> Response:
        return jsonify(keys.jwks())

    @app.route("/authorize", methods=["GET", "POST"])
    def authorize() -> Response:
        session = current_session()
        try:
            grant = server.get_consent_grant(end_user=session.user if session else None)
        except OAuth2Error as error:
            return authorize_error(error)
        client_id = grant.request.client.client_id
        if request.method == "POST":
            username = request.form.get("username", "")
            user = store.authenticate(username, request.form.get("password", ""))
            if user is None:
                print(f"sign-in failed: {username!r} for {client_id}")
                html = pages.login(
                    issuer, client_id, request.full_path, username, "Invalid username or password."
                )
                return Response(html, mimetype="text/html")
            session = store.open_session(user)
            print(f"sign-in: {user.subject} for {client_id}")
            response = approve(grant, session)
            response.set_cookie(cookie, session.sid, httponly=True, samesite="Lax")
            return response
        prompts = split_scope(request.args.get("prompt"))
        max_age = request.args.get("max_age", type=int)
        stale = (
            session is not None
            and max_age is not None
            and time.time() - session.auth_time > max_age
        )
        if session is None or stale or "login" in prompts:
            if "none" in prompts:
                return authorize_error(
                    LoginRequiredError(
                        redirect_uri=grant.redirect_uri, state=grant.request.payload.state
                    )
                )
            return Response(pages.login(issuer, client_id, request.full_path), mimetype="text/html")
        return approve(grant, session)

    @app.post("/token")
    def token() -> Response:
        response: Response = server.create_token_response()
        return response

    @app.route("/userinfo", methods=["GET", "POST"])
    def userinfo() -> Response:
        response: Response = server.create_endpoint_response("userinfo")
        return response

    @app.post("/revoke")
    def revoke() -> Response:
        response: Response = server.create_endpoint_response("revocation")
        return response

    @app.post("/introspect")
    def introspect() -> Response:
        response: Response = server.create_endpoint_response("introspection")
        return response

    @app.route("/logout", methods=["GET", "POST"])
    def logout() -> Response:
        try:
            req = server.validate_endpoint_request("end_session")
        except OAuth2Error as error:
            return error_page("Sign-out error", error)
        asked = request.values.get("post_logout_redirect_uri")
        if asked and (req.client is None or asked not in req.client.post_logout_redirect_uris):
            where = f"client {req.client.client_id}" if req.client else "no client"
            return error_page(
                "Sign-out error",
                "invalid_request",
                f"post_logout_redirect_uri {asked} is not registered for {where}"
                + ("" if req.client else "; send id_token_hint or client_id"),
            )
        if req.needs_confirmation and request.method == "GET":
            client_id = req.client.client_id if req.client else None
            html = pages.confirm_logout(issuer, client_id, "/logout", request.args.items())
            return Response(html, mimetype="text/html")
        response: Response | None = server.create_endpoint_response("end_session", req)
        if response is None:
            response = Response(pages.signed_out(issuer), mimetype="text/html")
        response.delete_cookie(cookie, httponly=True, samesite="Lax")
        return response

    @app.after_request
    def cors(response: Response) -> Response:
        if request.path in _CORS_PATHS:
            response.headers["Access-Control-Allow-Origin"] = "*"
            response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        return response

    return app
