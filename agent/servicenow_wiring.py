"""Builds the ServiceNow ITSM adapter from settings (only when ``OPSLAYER_ITSM_BACKEND=servicenow``)."""

from __future__ import annotations

from agent.settings import Settings
from tools.servicenow import BasicAuth, BearerToken, ServiceNowITSM


class ConfigurationError(ValueError):
    """A setting needed for the chosen configuration is missing; the message names the variables."""


def servicenow_from_settings(settings: Settings) -> ServiceNowITSM:
    if not settings.servicenow_url:
        raise ConfigurationError("OPSLAYER_ITSM_BACKEND=servicenow needs OPSLAYER_SERVICENOW_URL")
    auth: BasicAuth | BearerToken
    if settings.servicenow_token is not None:
        auth = BearerToken(token=settings.servicenow_token)
    elif settings.servicenow_user and settings.servicenow_password is not None:
        auth = BasicAuth(user=settings.servicenow_user, password=settings.servicenow_password)
    else:
        raise ConfigurationError(
            "ServiceNow needs OPSLAYER_SERVICENOW_TOKEN (OAuth bearer) or both OPSLAYER_SERVICENOW_USER "
            "and OPSLAYER_SERVICENOW_PASSWORD (basic auth)"
        )
    return ServiceNowITSM(settings.servicenow_url, auth=auth, timeout_s=settings.servicenow_timeout_s)
