"""The message log (audit): what crossed the gateway's border, chained by hash so tampering shows.
Usable and verifiable without Kafka: it needs only the database."""
