"""Stored grants: the per-user document with its sealed refresh token, live access tokens and the
refresh lease that shares them, re-authorization when a grant stops working, and disconnecting."""
