"""The Flows page: per flow and direction, messages, errors, retries, dead letters, duplicates
and latency percentiles over the last 5 minutes, hour and day, from the per-minute figures
every process writes (ops/flow_counters)."""

import time

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.ops.flow_counters import LATENCY_BOUNDS_S, latency_measure
from gateway.store.tables import FlowDirection, FlowMinute

WINDOWS = {"5m": 5, "1h": 60, "1d": 24 * 60}
GOOD = {"delivered", "accepted", "sent"}
DUPLICATES = {"duplicates", "duplicate"}
# Counted apart: not messages of their own (a retry is a second try of a message counted once).
NOT_MESSAGES = {"retried", "raised_to_operators"}
NOT_MESSAGE_PREFIXES = ("poll_", "reconcile_", "latency_")


async def flow_windows(session: AsyncSession, now: float | None = None) -> list[dict]:
    """One entry per flow: direction, and for each window its figures."""
    current = int((now or time.time()) // 60)
    # A window of N minutes is the current minute and the N-1 before it.
    sums = [func.sum(case((FlowMinute.minute > current - minutes, FlowMinute.count), else_=0)).label(name)
            for name, minutes in WINDOWS.items()]
    query = (select(FlowMinute.flow, FlowMinute.measure, *sums)
             .where(FlowMinute.minute > current - max(WINDOWS.values()))
             .group_by(FlowMinute.flow, FlowMinute.measure))
    rows = (await session.execute(query)).all()
    directions = dict((await session.execute(select(FlowDirection.flow, FlowDirection.direction))).all())
    counts: dict[str, dict[str, dict[str, int]]] = {}
    for row in rows:
        for window in WINDOWS:
            counts.setdefault(row.flow, {}).setdefault(window, {})[row.measure] = int(getattr(row, window) or 0)
    flows = []
    for flow in sorted(directions.keys() | counts.keys()):
        windows = {window: summarize(counts.get(flow, {}).get(window, {})) for window in WINDOWS}
        flows.append({"flow": flow, "direction": directions.get(flow, "out"), "windows": windows})
    return flows


def summarize(measures: dict[str, int]) -> dict:
    outcomes = {name: count for name, count in measures.items()
                if name not in NOT_MESSAGES and not name.startswith(NOT_MESSAGE_PREFIXES)}
    latency = [measures.get(latency_measure(bucket), 0) for bucket in range(len(LATENCY_BOUNDS_S) + 1)]
    good = sum(outcomes.get(name, 0) for name in GOOD)
    duplicates = sum(outcomes.get(name, 0) for name in DUPLICATES)
    messages = sum(outcomes.values())
    return {
        "messages": messages, "delivered": good, "duplicates": duplicates,
        "errors": messages - good - duplicates, "retries": measures.get("retried", 0),
        "dead_letters": measures.get("dead_lettered", 0),
        "p50_s": percentile(latency, 0.50), "p99_s": percentile(latency, 0.99),
    }


def percentile(bucket_counts: list[int], quantile: float) -> float | None:
    """The quantile from bucket counts, interpolated inside its bucket as Prometheus's
    histogram_quantile does (the open last bucket answers its lower bound)."""
    total = sum(bucket_counts)
    if total == 0:
        return None
    rank = quantile * total
    seen = 0
    for bucket, count in enumerate(bucket_counts):
        if count and seen + count >= rank:
            if bucket == len(LATENCY_BOUNDS_S):
                return LATENCY_BOUNDS_S[-1]
            lower = LATENCY_BOUNDS_S[bucket - 1] if bucket else 0.0
            upper = LATENCY_BOUNDS_S[bucket]
            return round(lower + (upper - lower) * (rank - seen) / count, 4)
        seen += count
    return LATENCY_BOUNDS_S[-1]

