"""Presence and routing-status timelines per agent, deterministic from (seed, user, day).

Each user's records are contiguous. Day D of a user covers [D + h(D), D+1 + h(D+1)),
where the hand-over time h(D) is 00:00 for most users and somewhere in 00:00-03:00 for
every third user (a late shift): their last record of a day spans midnight UTC. Because
h depends only on (seed, user, day), each day is generated on its own and days still
join up without gaps.

A day: OFFLINE until the shift starts, then AVAILABLE, ON_QUEUE stretches broken by BREAK,
MEAL and now and then MEETING, TRAINING, BUSY or AWAY, then OFFLINE. Routing status is
OFF_QUEUE outside ON_QUEUE and cycles IDLE / COMMUNICATING / INTERACTING / NOT_RESPONDING
inside it. Routing status is not tied to the conversations an agent handled (a
simplification of the simulator, not an API property).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from genesys_export.simulator.isotime import MS_PER_DAY

_MINUTE = 60_000
_HOUR = 60 * _MINUTE


@dataclass(frozen=True, slots=True)
class StatusRecord:
    """One record of either timeline: [start, end) with a status value."""

    start: int
    end: int
    status: str


@dataclass(frozen=True, slots=True)
class UserDay:
    """A user's presence and routing-status records that start in one UTC day."""

    user_id: str
    presence: tuple[StatusRecord, ...]
    routing: tuple[StatusRecord, ...]


def generate_user_day(seed: int, user_index: int, user_id: str, day_ms: int) -> UserDay:
    """The records of `user_id` that start in the UTC day beginning at `day_ms`."""
    rng = random.Random(f"genesys-export-simulator:user:{seed}:{user_id}:{day_ms}")
    begin = day_ms + _handover(seed, user_index, user_id, day_ms)
    finish = day_ms + MS_PER_DAY + _handover(seed, user_index, user_id, day_ms + MS_PER_DAY)
    late_shift = user_index % 3 == 2
    shift_start = day_ms + (rng.randint(15, 17) if late_shift else rng.randint(7, 10)) * _HOUR
    shift_start += rng.randrange(0, 60) * _MINUTE
    shift_end = min(shift_start + rng.randint(7, 9) * _HOUR, finish - _MINUTE)
    presence = [StatusRecord(begin, shift_start, "OFFLINE")]
    presence += _shift(rng, shift_start, shift_end)
    presence.append(StatusRecord(shift_end, finish, "OFFLINE"))
    return UserDay(user_id, tuple(presence), tuple(_routing(rng, presence)))


def _handover(seed: int, user_index: int, user_id: str, day_ms: int) -> int:
    if user_index % 3 != 2:
        return 0
    rng = random.Random(f"genesys-export-simulator:handover:{seed}:{user_id}:{day_ms}")
    return rng.randrange(5 * _MINUTE, 3 * _HOUR)


def _shift(rng: random.Random, start: int, end: int) -> list[StatusRecord]:
    records = []
    t = start
    available = rng.randint(2, 10) * _MINUTE
    records.append(StatusRecord(t, t + available, "AVAILABLE"))
    t += available
    breaks = ["BREAK", "MEAL", "BREAK"]
    while t < end:
        on_queue = rng.randint(45, 120) * _MINUTE
        records.append(StatusRecord(t, min(t + on_queue, end), "ON_QUEUE"))
        t += on_queue
        if t >= end:
            break
        pause = breaks.pop(0) if breaks else rng.choice(("MEETING", "TRAINING", "BUSY", "AWAY"))
        length = {"MEAL": 40}.get(pause, rng.randint(10, 25)) * _MINUTE
        records.append(StatusRecord(t, min(t + length, end), pause))
        t += length
    return records


def _routing(rng: random.Random, presence: list[StatusRecord]) -> list[StatusRecord]:
    records: list[StatusRecord] = []
    for record in presence:
        if record.status != "ON_QUEUE":
            _append_merged(records, StatusRecord(record.start, record.end, "OFF_QUEUE"))
            continue
        t = record.start
        while t < record.end:
            status = rng.choices(
                ("IDLE", "COMMUNICATING", "INTERACTING", "NOT_RESPONDING"), weights=(5, 1, 6, 1)
            )[0]
            length = rng.randint(1, 12) * _MINUTE + rng.randrange(_MINUTE)
            _append_merged(records, StatusRecord(t, min(t + length, record.end), status))
            t += length
    return records


def _append_merged(records: list[StatusRecord], record: StatusRecord) -> None:
    # Two adjacent records with the same status are one record on the wire.
    if records and records[-1].status == record.status and records[-1].end == record.start:
        records[-1] = StatusRecord(records[-1].start, record.end, record.status)
    else:
        records.append(record)
