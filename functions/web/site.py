"""What every page shows of the service: its name, its footer's links, the order of permissions.

Apart from :mod:`functions.web.pages` so that the HTTP shell can hand it to any page without
loading the pages, their translations and Babel (see :mod:`functions.web.style`).
"""

from __future__ import annotations

from dataclasses import dataclass

from functions.config import DEFAULT_ACCOUNT_PERMISSIONS_URL, Settings


@dataclass(frozen=True)
class Site:
    """What every page shows of the service, from the configuration.

    Attributes:
        service_name: ``SERVICE_NAME``; ``None``: the pages say "the service".
        support_url, privacy_policy_url: the footer's links, each shown when set.
        account_permissions_url: where people remove the app's access (the success page).
        scopes: the configured scopes, in the order permissions are listed on every page.
    """

    service_name: str | None = None
    support_url: str | None = None
    privacy_policy_url: str | None = None
    account_permissions_url: str = DEFAULT_ACCOUNT_PERMISSIONS_URL
    scopes: tuple[str, ...] = ()

    @classmethod
    def of(cls, settings: Settings) -> Site:
        """The site as ``settings`` configure it."""
        return cls(
            service_name=settings.service_name,
            support_url=settings.support_url,
            privacy_policy_url=settings.privacy_policy_url,
            account_permissions_url=settings.account_permissions_url,
            scopes=settings.scopes,
        )


NO_SITE = Site()
"""A site with nothing configured: the pages say "the service" and link Google's own page."""
