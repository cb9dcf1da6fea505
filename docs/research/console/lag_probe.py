"""Consumer lag from outside the consumers: committed offsets per group (admin OffsetFetch) against
the partitions' end offsets (ListOffsets), on the broker of a running gateway. Run with the
gateway's own venv (aiokafka is there): python lag_probe.py HOST:PORT"""

import asyncio
import sys
import time

import logging

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient


async def main(bootstrap: str) -> None:
    logging.basicConfig(level=logging.CRITICAL)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)  # no group: only for end offsets
    await consumer.start()
    try:
        started = time.perf_counter()
        try:
            groups = await admin.list_consumer_groups()
            print("list_consumer_groups:", sorted(g[0] for g in groups))
        except Exception as error:  # noqa: BLE001
            print("list_consumer_groups FAILED:", type(error).__name__, error)
            groups = []
        names = sorted({g[0] for g in groups}) or ["gateway.ledger", "gateway.webhook", "gateway.national_portal"]
        for group in names:
            try:
                committed = await admin.list_consumer_group_offsets(group)
                print(f"{group}: admin OffsetFetch ok: {committed}")
            except Exception as error:  # noqa: BLE001
                print(f"{group}: admin list_consumer_group_offsets FAILED: {type(error).__name__} {error}")
            # Second way: a consumer carrying the group id that never subscribes (it does not join
            # the group, so no rebalance) asks the coordinator for the committed offsets.
            member = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
            await member.start()
            try:
                topic = "onegate.dossier-events"
                partitions = [TopicPartition(topic, p) for p in sorted(member.partitions_for_topic(topic) or [])]
                if not partitions:
                    await member._client.force_metadata_update()
                    partitions = [TopicPartition(topic, p) for p in sorted(member.partitions_for_topic(topic) or [])]
                ends = await consumer.end_offsets(partitions)
                lag = {}
                for tp in partitions:
                    committed_offset = await member.committed(tp)
                    lag[f"{tp.topic}[{tp.partition}]"] = f"{ends[tp]}-{committed_offset}={ends[tp] - (committed_offset or 0)}"
                print(f"{group}: consumer.committed + end_offsets: lag {lag}")
            except Exception as error:  # noqa: BLE001
                print(f"{group}: consumer.committed FAILED: {type(error).__name__} {error}")
            finally:
                await member.stop()
        print(f"took {time.perf_counter() - started:.3f} s")
    finally:
        await consumer.stop()
        await admin.close()


asyncio.run(main(sys.argv[1]))
