"""Out-of-app delivery (email, SMS) behind one interface. The local implementation writes a
line to the log: real gateways (an SMS brand-name provider, SMTP) plug in by setting
``TELEBRIDGE_NOTIFIER`` to ``module:factory``. Messages carry no clinical content: a
title such as "New emergency request" and a link, never the patient or the question."""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from typing import Protocol

from telebridge.kit import logs

log = logging.getLogger("telebridge.notify")


@dataclass(frozen=True)
class Outgoing:
    channel: str  # email | sms
    address: str
    text: str
    link: str
    urgent: bool


class Notifier(Protocol):
    async def send(self, message: Outgoing) -> None: ...


class LogNotifier:
    """Writes what would be sent, with the address masked, and keeps the last messages."""

    def __init__(self, keep: int = 200) -> None:
        self.sent: list[Outgoing] = []
        self._keep = keep

    async def send(self, message: Outgoing) -> None:
        self.sent = (self.sent + [message])[-self._keep:]
        masked = message.address[:2] + "***" + message.address[-2:]
        logs.log(log, logging.INFO, "notification sent", channel=message.channel, to=masked, urgent=message.urgent)


def make_notifier(spec: str | None) -> Notifier:
    if not spec:
        return LogNotifier()
    module, _, factory = spec.partition(":")
    return getattr(importlib.import_module(module), factory)()  # type: ignore[no-any-return]
