"""Who is calling: a personal API token (``Authorization: Bearer opl_…``) or, behind an OIDC proxy, a
trusted header naming the person — believed only from the proxy addresses configured.

The caller is always a person of the directory and always comes from here, never from a request body.
A header named by ``OPSLAYER_TRUSTED_HEADER`` that arrives from any other address is refused (401,
audited), even with a valid token beside it: someone is trying to speak for another person. So is the
header sent more than once: a proxy that appends it rather than replacing it left the client's copy.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from agent.api.problems import Unauthenticated
from agent.run.errors import ConfigurationError
from governance.directory import Person

if TYPE_CHECKING:
    from agent.operations import Operations
    from agent.settings import Settings

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network

bearer = HTTPBearer(auto_error=False, description="A personal API token: `opslayer tokens create --as YOU`")


@dataclass(frozen=True, kw_only=True)
class TrustedHeader:
    """The header an auth proxy sets, and the addresses it is believed from."""

    name: str
    proxies: tuple[_Network, ...]

    def trusts(self, peer: str | None) -> bool:
        try:
            address = ipaddress.ip_address(peer or "")
        except ValueError:
            return False
        return any(address in network for network in self.proxies)


def trusted_header(settings: Settings) -> TrustedHeader | None:
    """The trusted-header mode the settings describe, None when off; bad addresses fail at start-up."""
    if not settings.trusted_header:
        return None
    proxies = []
    for entry in settings.trusted_proxies:
        try:
            proxies.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ConfigurationError(
                f"OPSLAYER_TRUSTED_PROXIES: {entry!r} is not an IP address or network (e.g. 10.0.0.0/8)"
            ) from None
    if not proxies:
        raise ConfigurationError(
            "OPSLAYER_TRUSTED_HEADER is set but OPSLAYER_TRUSTED_PROXIES is empty: name the proxy addresses"
        )
    return TrustedHeader(name=settings.trusted_header, proxies=tuple(proxies))


def authenticated(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Person:
    """The calling person, or 401 saying what is wrong with the credentials (audited)."""
    from governance.directory import UnknownPerson
    from governance.tokens import TokenError

    operations: Operations = request.app.state.operations
    header: TrustedHeader | None = request.app.state.trusted_header
    if header is not None and header.name in request.headers:
        person = _from_proxy(request, header, operations)
        request.state.person_id = person.id
        return person
    if credentials is None:
        raise Unauthenticated(_missing(request.headers.get("authorization")))
    try:
        person = operations.authenticate(credentials.credentials)
    except TokenError as bad:
        raise Unauthenticated(f"{bad}") from None
    except UnknownPerson:
        raise Unauthenticated("the token's person is no longer in the directory") from None
    request.state.person_id = person.id
    return person


def _from_proxy(request: Request, header: TrustedHeader, operations: Operations) -> Person:
    from governance.directory import UnknownPerson

    peer = request.client.host if request.client else None
    if not header.trusts(peer):
        raise Unauthenticated(f"the {header.name} header is accepted only from the configured proxies")
    if len(request.headers.getlist(header.name)) > 1:  # a proxy that appends: the client's copy is there too
        raise Unauthenticated(
            f"the {header.name} header must appear once; this request has it more than once"
        )
    try:
        return operations.person(request.headers[header.name].strip())
    except UnknownPerson:
        raise Unauthenticated(f"the {header.name} header names no person of the directory") from None


def _missing(authorization: str | None) -> str:
    if authorization is None:
        return "no credentials: send Authorization: Bearer TOKEN"
    return "the Authorization header must be: Bearer TOKEN"


Caller = Annotated[Person, Depends(authenticated)]
"""The authenticated person, as an endpoint parameter type."""
