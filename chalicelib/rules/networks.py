"""IP networks in rule documents (allow-lists, exemptions): checked when the document is
published, matched the same way wherever they are used."""

from __future__ import annotations

import ipaddress
from typing import Annotated

from pydantic import AfterValidator


def _valid(value: list[str]) -> list[str]:
    for item in value:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError as exc:
            raise ValueError(f"无效的网段：{item}") from exc
    return value


Networks = Annotated[list[str], AfterValidator(_valid)]


def contains(networks: list[str], ip: str | None) -> bool:
    """Whether `ip` lies in one of `networks` (an unparsable or missing address never does)."""
    if not ip:
        return False
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(net, strict=False) for net in networks)
