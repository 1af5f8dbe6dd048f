"""Consent: steps 1 to 3 of Google's guide, one module each, and what they share.

- ``authorize``: step 1, the consent URL and the redirect there;
- ``exchange``: step 2, the one-time code traded for tokens;
- ``identify``: step 3, who consented (OIDC userinfo ``sub``);
- ``pending``: the pending authorization between the two browser visits (state, PKCE verifier,
  the sealed cookies, the used-state markers);
- ``oauth_client``, ``return_to``, ``revoke``: the client registration, where the browser may
  go afterwards, and ending a grant at the provider (RFC 7009).
"""
