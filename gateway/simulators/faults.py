"""What can go wrong at a simulated partner, and the dice that decide when it does."""

import random

from pydantic import BaseModel, ConfigDict, Field


class FaultProfile(BaseModel):
    """Faults a simulator injects. Rates are probabilities per request (0 = never, 1 = always)."""

    model_config = ConfigDict(extra="forbid")

    latency_ms: int = Field(default=0, ge=0, le=120_000, description="Added to every answer")
    latency_jitter_ms: int = Field(default=0, ge=0, le=120_000, description="Random extra latency, 0..N")
    error_rate: float = Field(default=0.0, ge=0.0, le=1.0, description="Answer an HTTP 503 instead")
    timeout_rate: float = Field(default=0.0, ge=0.0, le=1.0, description="Hang instead of answering")
    hang_s: float = Field(default=60.0, gt=0, le=3600, description="How long a hung request hangs")
    duplicate_rate: float = Field(default=0.0, ge=0.0, le=1.0, description="Send a callback twice")
    seed: int | None = Field(default=None, description="Seed for repeatable fault sequences")


class FaultDice:
    """Draws the faults of one request from a profile; seeded for repeatable rehearsals."""

    def __init__(self, profile: FaultProfile) -> None:
        self.profile = profile
        self._random = random.Random(profile.seed)

    def latency_s(self) -> float:
        jitter = self._random.randint(0, self.profile.latency_jitter_ms) if self.profile.latency_jitter_ms else 0
        return (self.profile.latency_ms + jitter) / 1000

    def hangs(self) -> bool:
        return self._roll(self.profile.timeout_rate)

    def fails(self) -> bool:
        return self._roll(self.profile.error_rate)

    def duplicates(self) -> bool:
        return self._roll(self.profile.duplicate_rate)

    def _roll(self, rate: float) -> bool:
        return rate > 0 and self._random.random() < rate
