"""Roles a gateway process can run. `gateway up` runs them all; `gateway worker --connectors`
runs some, so a busy connector scales by starting more processes in its consumer group."""

from collections.abc import Callable
from dataclasses import dataclass

from faststream.kafka import KafkaBroker

from gateway.ops.flow_counters import FlowCounters
from gateway.runtime.config import Settings
from gateway.store.database import Database


@dataclass(frozen=True)
class RoleContext:
    """What a role's handlers may use."""

    settings: Settings
    database: Database
    counters: FlowCounters


@dataclass(frozen=True)
class Role:
    name: str
    description: str
    install: Callable[[KafkaBroker, RoleContext], None]


class UnknownRole(ValueError):
    pass


def all_roles() -> dict[str, Role]:
    # Imported here: role modules import this one for Role and RoleContext.
    from gateway.ops import dossier_ledger

    return {role.name: role for role in (dossier_ledger.ROLE,)}


def select_roles(names: list[str]) -> list[Role]:
    known = all_roles()
    unknown = [name for name in names if name not in known]
    if unknown:
        raise UnknownRole(f"unknown connector or role {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return [known[name] for name in names]
