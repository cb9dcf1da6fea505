"""Provincial integration gateway: links a one-stop system (một cửa điện tử) to its partners over Kafka."""

__version__ = "0.1.0"
