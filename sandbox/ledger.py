"""OAuth 2.0 bookkeeping as Google does it: consents, codes, tokens, grants, revocation.

Implements RFC 6749 §4.1 (authorization code grant), §6 (refresh), RFC 7636 (PKCE) and RFC 7009
(revocation) with Google's choices: a refresh token only for offline access on first consent or
with prompt=consent; old refresh tokens stay valid when new ones are issued; revoking any token
revokes the whole grant (https://developers.google.com/identity/protocols/oauth2/web-server).
Not thread-safe on its own: SandboxState holds its lock around every call.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Iterable

from sandbox import oidc, rfc7636, scopes
from sandbox.errors import OAuthError
from sandbox.models import AuthorizationCode, AuthRequest, Behaviour, Client, Grant, Token

CODE_LIFETIME = 600.0
CONSENT_LIFETIME = 3600.0
_REVOKED = "Token has been expired or revoked."


def _new(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def _invalid_grant(description: str) -> OAuthError:
    return OAuthError("invalid_grant", description)


class OAuthLedger:
    """Everything the authorization server remembers."""

    def __init__(self, clock: Callable[[], float], behaviour: Behaviour) -> None:
        self._clock = clock
        self._behaviour = behaviour
        self.clients: dict[str, Client] = {}
        self._consents: dict[str, tuple[float, AuthRequest]] = {}
        self._codes: dict[str, AuthorizationCode] = {}
        self._refresh: dict[str, Token] = {}
        self._refresh_used: dict[str, float] = {}  # when each refresh token was last used
        self._access: dict[str, Token] = {}
        self._id_tokens: dict[str, str] = {}  # by the access token issued with it
        self._grants: dict[tuple[str, str], Grant] = {}
        self._prune_at = 1024

    def issued_tokens(self) -> list[str]:
        """Every refresh, access and ID token still remembered (for leak tests)."""
        id_tokens = [v for k, v in self._id_tokens.items() if k in self._access]
        return [*self._refresh, *self._access, *id_tokens]

    def authenticate(self, client_id: str, secret_candidates: Iterable[str]) -> Client:
        """RFC 6749 §2.3.1 client authentication; several candidates allow URL-decoding."""
        client = self.clients.get(client_id)
        if client is None:
            raise OAuthError("invalid_client", "The OAuth client was not found.", 401)
        expected = client.client_secret.encode()
        if not any(hmac.compare_digest(expected, s.encode()) for s in secret_candidates):
            raise OAuthError("invalid_client", "Unauthorized", 401)
        return client

    def open_consent(self, request: AuthRequest) -> str:
        """Park a validated authorization request until the user answers; return its id."""
        now = self._clock()
        for key in [k for k, (at, _) in self._consents.items() if at + CONSENT_LIFETIME < now]:
            del self._consents[key]
        consent_id = _new("sbx-consent-")
        self._consents[consent_id] = (now, request)
        return consent_id

    def consent(self, consent_id: str) -> AuthRequest | None:
        """The pending request, or None when unknown or expired."""
        entry = self._consents.get(consent_id)
        if entry is None or entry[0] + CONSENT_LIFETIME < self._clock():
            return None
        return entry[1]

    def deny(self, consent_id: str) -> AuthRequest | None:
        """The user pressed Cancel: forget the request."""
        return self._take(consent_id)

    def approve(
        self, consent_id: str, email: str, chosen: Iterable[str]
    ) -> AuthorizationCode | None:
        """The user allowed `chosen` scopes: record the grant and issue a one-time code."""
        request = self._take(consent_id)
        if request is None:
            return None
        now = self._clock()
        for key in [k for k, c in self._codes.items() if c.expires_at + CODE_LIFETIME < now]:
            del self._codes[key]
        granted = scopes.normalize_all(chosen)
        grant = self._grants.setdefault((request.client_id, email), Grant())
        token_scopes = granted
        if request.include_granted_scopes:
            token_scopes = scopes.normalize_all([*sorted(grant.scopes), *granted])
        grant.scopes.update(granted)
        code = AuthorizationCode(
            _new("sbx-code-"), request, email, token_scopes, now + CODE_LIFETIME
        )
        self._codes[code.value] = code
        return code

    def exchange(
        self,
        client: Client,
        code_value: str,
        redirect_uri: str,
        verifier: str | None,
        issuer: str,
    ) -> dict[str, object]:
        """RFC 6749 §4.1.3: trade a code for tokens; a replay revokes what the code issued.

        With `openid` granted, the answer carries an ID token from `issuer` (OIDC Core §3.1.3.3).
        """
        code = self._codes.get(code_value)
        if code is None or code.request.client_id != client.client_id:
            raise _invalid_grant("Malformed auth code.")
        if code.redeemed:
            self._drop_tokens(lambda t: t.code == code_value)
            raise _invalid_grant("Authorization code was already redeemed.")
        code.redeemed = True  # any attempt by the rightful client uses the code up
        request = code.request
        if code.expires_at <= self._clock():
            raise _invalid_grant("Authorization code has expired.")
        if redirect_uri != request.redirect_uri:
            # Google answers this, not invalid_grant (OAuth 2.0 web-server guide, step 5).
            raise OAuthError("redirect_uri_mismatch", "Bad Request")
        if request.code_challenge is not None:
            method = request.code_challenge_method or rfc7636.PLAIN
            if verifier is None:
                raise _invalid_grant("Missing code verifier.")
            if not rfc7636.verify(method, request.code_challenge, verifier):
                raise _invalid_grant("Invalid code verifier.")
        grant = self._grants.setdefault((client.client_id, code.email), Grant())
        body = self._mint_access(
            client.client_id, code.email, code.scopes, code_value, issuer, request.nonce
        )
        wants_refresh = "consent" in request.prompt or not grant.refresh_issued
        if request.offline and wants_refresh and not self._behaviour.omit_refresh_token:
            now, lifetime = self._clock(), self._behaviour.refresh_token_expires_in
            refresh = Token(
                _new("sbx-rt-"),
                client.client_id,
                code.email,
                code.scopes,
                code_value,
                now + lifetime if lifetime else None,
            )
            self._refresh[refresh.value] = refresh
            self._refresh_used[refresh.value] = now
            grant.refresh_issued = True
            body["refresh_token"] = refresh.value
            if lifetime:  # a time-limited grant, as Google reports one
                body["refresh_token_expires_in"] = lifetime
        return body

    def refresh(
        self, client: Client, token_value: str, narrowed: tuple[str, ...] | None, issuer: str
    ) -> dict[str, object]:
        """RFC 6749 §6: a new access token, optionally for fewer scopes; no new refresh token.

        Google adds a new ID token when `openid` is among the scopes (OIDC Core §12.2).
        """
        token = self._refresh.get(token_value)
        if token is None or token.client_id != client.client_id:
            raise _invalid_grant(_REVOKED)
        now, idle_days = self._clock(), self._behaviour.refresh_token_idle_days
        unused = now - self._refresh_used.get(token_value, now)
        ended = token.expires_at is not None and token.expires_at <= now
        if ended or (idle_days and unused > idle_days * 86400):
            # A time-limited grant that ended, or a token idle too long: gone for good.
            self._drop_tokens(lambda t: t.value == token_value)
            raise _invalid_grant(_REVOKED)
        self._refresh_used[token_value] = now
        granted = token.scopes
        if narrowed:
            wanted = scopes.normalize_all(narrowed)
            if not set(wanted) <= set(granted):
                raise OAuthError("invalid_scope", "Requested scopes exceed those granted.")
            granted = wanted
        return self._mint_access(client.client_id, token.email, granted, token.code, issuer)

    def access_token(self, value: str) -> Token | None:
        """The live access token `value`, or None when unknown, expired or revoked."""
        token = self._access.get(value)
        if token is None or (token.expires_at or 0.0) <= self._clock():
            return None
        return token

    def revoke(self, value: str) -> bool:
        """RFC 7009: revoking any token of a grant revokes the whole grant, as Google does."""
        token = self._refresh.get(value) or self._access.get(value)
        if token is None:
            return False
        self._revoke_grant(token.client_id, token.email)
        return True

    def revoke_user(self, email: str) -> int:
        """The user removed every app's access in their Google Account; return how many."""
        pairs = {k for k in self._grants if k[1] == email}
        pairs |= {(t.client_id, t.email) for t in self._refresh.values() if t.email == email}
        for client_id, owner in pairs:
            self._revoke_grant(client_id, owner)
        return len(pairs)

    def expire_access_tokens(self, email: str) -> int:
        """End the user's access tokens now, keeping grants and refresh tokens; return how many."""
        doomed = [k for k, t in self._access.items() if t.email == email]
        for key in doomed:
            del self._access[key]
        return len(doomed)

    def refresh_tokens(self, email: str) -> list[Token]:
        """The user's live refresh tokens, oldest first (Cross-Account Protection names them)."""
        return [t for t in self._refresh.values() if t.email == email]

    def granted_scopes(self, client_id: str, email: str) -> frozenset[str] | None:
        """What `email` has granted `client_id`, or None when nothing."""
        grant = self._grants.get((client_id, email))
        return None if grant is None else frozenset(grant.scopes)

    def _take(self, consent_id: str) -> AuthRequest | None:
        """Remove a pending request, so that each consent is answered at most once."""
        request = self.consent(consent_id)
        self._consents.pop(consent_id, None)
        return request

    def _mint_access(
        self,
        client_id: str,
        email: str,
        granted: tuple[str, ...],
        code: str,
        issuer: str,
        nonce: str | None = None,
    ) -> dict[str, object]:
        now, lifetime = self._clock(), self._behaviour.access_token_lifetime
        if len(self._access) >= self._prune_at:
            for key in [k for k, t in self._access.items() if (t.expires_at or 0.0) <= now]:
                del self._access[key]
            self._id_tokens = {k: v for k, v in self._id_tokens.items() if k in self._access}
            self._prune_at = max(1024, 2 * len(self._access))
        token = Token(_new("sbx-at-"), client_id, email, granted, code, now + lifetime)
        self._access[token.value] = token
        body: dict[str, object] = {
            "access_token": token.value,
            "expires_in": lifetime,
            "token_type": "Bearer",
            "scope": " ".join(granted),
        }
        if scopes.OPENID in granted and not self._behaviour.omit_id_token:
            body["id_token"] = self._id_tokens[token.value] = oidc.id_token(
                issuer=issuer,
                client_id=client_id,
                email=email,
                granted=granted,
                access_token=token.value,
                now=now,
                nonce=nonce,
            )
        return body

    def _revoke_grant(self, client_id: str, email: str) -> None:
        self._grants.pop((client_id, email), None)
        self._drop_tokens(lambda t: (t.client_id, t.email) == (client_id, email))
        pair = (client_id, email)
        for key in [k for k, c in self._codes.items() if (c.request.client_id, c.email) == pair]:
            del self._codes[key]

    def _drop_tokens(self, doomed: Callable[[Token], bool]) -> None:
        for store in (self._refresh, self._access):
            for key in [k for k, t in store.items() if doomed(t)]:
                del store[key]
                self._refresh_used.pop(key, None)
