"""Times in the store: written in UTC, read back aware. SQLite keeps no offset, so a time
written in another zone would read back shifted, and text comparisons in SQL would be wrong."""

from datetime import UTC, datetime


def stored(moment: datetime | None) -> datetime | None:
    return moment.astimezone(UTC) if moment is not None else None


def loaded(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def iso(moment: datetime | None) -> str | None:
    """A stored time as ISO 8601 with its offset, for an API answer."""
    return loaded(moment).isoformat() if moment is not None else None
