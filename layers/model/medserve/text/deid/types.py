"""Entity types, results and the candidate record shared by the recognisers and the resolver."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["MAX_CHARACTERS", "METHOD", "MODES", "TYPES", "VERSION", "Deidentified", "Entity", "Mode"]

VERSION = "2.0.0"  # 2: rules + learned token model + safe list (issue 12)
METHOD = "phi-rules+model+safelist"  # the "method" of every de-identification response
MAX_CHARACTERS = 20_000  # per API request (413 beyond); S3 notes have their own limit
TYPES = (
    "NAME",
    "ADDRESS",
    "CITY",
    "ZIP",
    "DATE",
    "AGE",
    "PHONE",
    "FAX",
    "EMAIL",
    "SSN",
    "MRN",
    "HEALTH_PLAN",
    "ACCOUNT",
    "LICENSE",
    "VEHICLE",
    "DEVICE",
    "URL",
    "IP",
    "ID",
    "FACILITY",
)
Mode = Literal["tag", "mask", "surrogate"]
MODES: tuple[Mode, ...] = ("tag", "mask", "surrogate")


@dataclass(frozen=True, slots=True)
class Entity:
    """One identifier: ``text[begin:end]`` is of ``type``."""

    type: str
    begin: int
    end: int
    score: float

    def as_dict(self) -> dict[str, object]:
        return {"type": self.type, "begin": self.begin, "end": self.end, "score": self.score}


@dataclass(frozen=True)
class Deidentified:
    entities: list[Entity]
    redacted_text: str
    mode: Mode


# Which candidate wins where two overlap: structured patterns before word-list guesses.
_PRIORITY = {
    "EMAIL": 100,
    "URL": 98,
    "IP": 97,
    "SSN": 96,
    "MRN": 90,
    "HEALTH_PLAN": 90,
    "ACCOUNT": 90,
    "LICENSE": 90,
    "VEHICLE": 90,
    "DEVICE": 90,
    "PHONE": 85,
    "FAX": 85,
    "DATE": 80,
    "AGE": 80,
    "ADDRESS": 75,
    "ZIP": 72,
    "FACILITY": 60,
    "NAME": 50,
    "CITY": 40,
    "ID": 30,
}


@dataclass(frozen=True, slots=True)
class _Candidate:
    type: str
    begin: int
    end: int
    score: float
    priority: int = 0

    @classmethod
    def of(cls, type_: str, begin: int, end: int, score: float, bonus: int = 0) -> _Candidate:
        return cls(type_, begin, end, score, _PRIORITY[type_] + bonus)
