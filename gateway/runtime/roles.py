"""Roles a gateway process can run. `gateway up` runs them all; `gateway worker --connectors`
runs some, so a busy connector scales by starting more processes in its consumer group."""

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from faststream.kafka import KafkaBroker

from gateway.audit.message_log import MessageLog
from gateway.ops.flow_counters import FlowCounters
from gateway.reliability.breaker import Breakers
from gateway.reliability.dead_letters import DeadLetters
from gateway.reliability.partner_calls import PartnerCalls
from gateway.runtime.config import PartnerSettings, Settings
from gateway.store.database import Database
from gateway.topics import ALL_TOPICS, Topic


@dataclass(frozen=True)
class RoleContext:
    """What a role's handlers may use."""

    settings: Settings
    database: Database
    counters: FlowCounters
    dead_letters: DeadLetters
    partner_calls: PartnerCalls
    breakers: Breakers
    message_log: MessageLog
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    simulator_urls: dict[str, str] = field(default_factory=dict)
    # Work a role runs beside its consumers (polling a partner); started with the broker, ended by `stopping`.
    background: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    def partner(self, name: str) -> PartnerSettings:
        return self.settings.partners.get(name) or PartnerSettings()

    def endpoint(self, name: str) -> str:
        """The partner's configured endpoint, else its simulator's when one runs in this process."""
        configured = self.partner(name).endpoint
        if configured is not None:
            return str(configured).rstrip("/")
        if name in self.simulator_urls:
            return self.simulator_urls[name]
        raise UnknownRole(f"partners.{name}.endpoint is not set and no {name} simulator runs in this process")


@dataclass(frozen=True)
class Role:
    name: str
    description: str
    install: Callable[[KafkaBroker, RoleContext], None]
    topics: tuple[Topic, ...] = ()  # topics of its own (a retry topic), created at start-up
    topics_for: Callable[[Settings], tuple[Topic, ...]] | None = None  # ... when configuration decides them
    takes_every_dossier: bool = True  # False: only some (a ministry takes its procedures); `demo` waits for the others

    def own_topics(self, settings: Settings) -> tuple[Topic, ...]:
        return self.topics + (self.topics_for(settings) if self.topics_for else ())


class UnknownRole(ValueError):
    pass


def all_roles() -> dict[str, Role]:
    # Imported here: role modules import this one for Role and RoleContext.
    from gateway.connectors.ministry import handlers as ministry
    from gateway.connectors.national_portal import handlers as national_portal
    from gateway.connectors.payment import handlers as payments
    from gateway.connectors.postal import handlers as postal
    from gateway.connectors.webhook import handlers as webhook
    from gateway.ops import dossier_ledger
    from gateway.signing import handlers as signatures

    return {role.name: role for role in (dossier_ledger.ROLE, national_portal.ROLE, webhook.ROLE, ministry.ROLE,
                                              payments.ROLE, postal.ROLE, signatures.ROLE)}


def partner_name_problems(name: str, what: str) -> list[str]:
    """A partner served by a generic connector names topics, consumer groups and flows: it must fit
    them and must not shadow a built-in connector."""
    problems = []
    if not re.fullmatch(r"[a-z][a-z0-9_]{1,62}", name):
        problems.append(f"partners.{name}: {what}'s name is lower-case letters, digits and _ (it names topics, "
                        "consumer groups and flows)")
    if name in all_roles():
        problems.append(f"partners.{name}: the name of a built-in connector; choose another")
    return problems


def select_roles(names: list[str]) -> list[Role]:
    known = all_roles()
    unknown = [name for name in names if name not in known]
    if unknown:
        raise UnknownRole(f"unknown connector or role {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return [known[name] for name in names]


def gateway_topics(settings: Settings) -> list[Topic]:
    """Every topic the gateway uses: the shared ones and each role's own (retry topics).
    All roles', not only this process's: any node may replay a dead letter into any retry topic."""
    topics = {topic.name: topic for topic in ALL_TOPICS}
    for role in all_roles().values():
        topics |= {topic.name: topic for topic in role.own_topics(settings)}
    return list(topics.values())
