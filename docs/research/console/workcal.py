"""Reference implementation (research, not gateway code): add N working hours to a timestamp
under a Vietnamese working calendar, and count the working hours between two timestamps.

Calendar = configuration data:
  timezone      Asia/Ho_Chi_Minh
  week          working periods per weekday (mon..sun), e.g. 07:30-11:30 and 13:00-17:00
  seasons       optional yearly ranges (MM-DD..MM-DD) with their own week (summer/winter hours)
  holidays      dates with no working time (Tết, 30/4, 1/5, 2/9, Hùng Kings, compensatory days off)
  working_days  dates worked although normally off (a Saturday worked to swap a day off), with
                their periods (default: the Monday periods of that date's season)
  agencies      per-agency overrides of week (a one-stop office open Saturday mornings)

Precedence for one date: working_days > holidays > season week > default week.
Run: python3 workcal.py  (prints each hand-computed case and OK/FAIL; exit 1 on a failure)
"""

import random
import sys
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Period = tuple[time, time]


def periods(texts: list[str]) -> tuple[Period, ...]:
    out = []
    for text in texts:
        start, end = (time.fromisoformat(part) for part in text.split("-"))
        if not start < end:
            raise ValueError(f"period {text!r}: start must be before end")
        out.append((start, end))
    out.sort()
    for (_, end), (start, _) in zip(out, out[1:]):
        if start < end:
            raise ValueError(f"periods overlap: {texts}")
    return tuple(out)


def week(spec: dict[str, list[str]]) -> dict[int, tuple[Period, ...]]:
    unknown = set(spec) - set(DAYS)
    if unknown:
        raise ValueError(f"unknown weekday(s) {sorted(unknown)}; use {DAYS}")
    return {index: periods(spec.get(name, [])) for index, name in enumerate(DAYS)}


@dataclass(frozen=True)
class Season:
    start: tuple[int, int]  # (month, day), inclusive
    end: tuple[int, int]    # inclusive; may wrap the year end (winter: 10-16..04-15)
    week: dict[int, tuple[Period, ...]]

    def covers(self, day: date) -> bool:
        key = (day.month, day.day)
        if self.start <= self.end:
            return self.start <= key <= self.end
        return key >= self.start or key <= self.end


@dataclass(frozen=True)
class Calendar:
    timezone: ZoneInfo
    week: dict[int, tuple[Period, ...]]
    seasons: tuple[Season, ...] = ()
    holidays: frozenset[date] = frozenset()
    working_days: dict[date, tuple[Period, ...] | None] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: dict, agency: str | None = None) -> "Calendar":
        base = dict(config["week"])
        if agency and agency in config.get("agencies", {}):
            base |= config["agencies"][agency].get("week", {})
        seasons = tuple(
            Season(_month_day(s["from"]), _month_day(s["to"]), week(dict(s["week"])))
            for s in config.get("seasons", []))
        return cls(
            timezone=ZoneInfo(config.get("timezone", "Asia/Ho_Chi_Minh")),
            week=week(base),
            seasons=seasons,
            holidays=frozenset(date.fromisoformat(h["date"]) for h in config.get("holidays", [])),
            working_days={date.fromisoformat(w["date"]): periods(w["periods"]) if "periods" in w else None
                          for w in config.get("working_days", [])},
        )

    def periods_on(self, day: date) -> tuple[Period, ...]:
        weekly = next((s.week for s in self.seasons if s.covers(day)), self.week)
        if day in self.working_days:
            return self.working_days[day] or weekly[0]  # default: a Monday's periods
        if day in self.holidays:
            return ()
        return weekly[day.weekday()]


MAX_DAYS = 400  # a calendar with no working time in 400 days is a configuration error


def add_working_time(calendar: Calendar, start: datetime, amount: timedelta) -> datetime:
    """The moment when `amount` of working time has passed since `start` (aware datetime).
    Ends exactly at a period's end when the amount runs out there (17:00, not 07:30 next day)."""
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    if amount < timedelta(0):
        raise ValueError("amount must not be negative")
    local = start.astimezone(calendar.timezone)
    remaining = amount
    day = local.date()
    for _ in range(MAX_DAYS):
        for begin, end in calendar.periods_on(day):
            period_start = datetime.combine(day, begin, calendar.timezone)
            period_end = datetime.combine(day, end, calendar.timezone)
            cursor = max(period_start, local)
            if cursor >= period_end:
                continue
            available = period_end - cursor
            if remaining <= available:
                return cursor + remaining
            remaining -= available
        day += timedelta(days=1)
    raise ValueError(f"no working time within {MAX_DAYS} days of {start}: check the calendar")


def working_time_between(calendar: Calendar, start: datetime, end: datetime) -> timedelta:
    """Working time in [start, end); negative when end is before start (overdue by ...)."""
    if end < start:
        return -working_time_between(calendar, end, start)
    total = timedelta(0)
    a, b = start.astimezone(calendar.timezone), end.astimezone(calendar.timezone)
    day = a.date()
    while day <= b.date():
        for begin, finish in calendar.periods_on(day):
            lo = max(datetime.combine(day, begin, calendar.timezone), a)
            hi = min(datetime.combine(day, finish, calendar.timezone), b)
            if hi > lo:
                total += hi - lo
        day += timedelta(days=1)
    return total


def _month_day(text: str) -> tuple[int, int]:
    month, day = text.split("-")
    return int(month), int(day)


# --- The example configuration (2026; dates from the Ministry of Home Affairs' notices as
# reported by the press; hours: an assumption, 8 h a day, as many provinces publish them) ------
WORKDAY = ["07:30-11:30", "13:00-17:00"]
CONFIG_2026 = {
    "timezone": "Asia/Ho_Chi_Minh",
    "week": {"mon": WORKDAY, "tue": WORKDAY, "wed": WORKDAY, "thu": WORKDAY, "fri": WORKDAY, "sat": [], "sun": []},
    "holidays": [
        {"date": "2026-01-01", "name": "Tết Dương lịch"},
        *({"date": f"2026-02-{d}", "name": "Tết Nguyên đán"} for d in (16, 17, 18, 19, 20)),
        {"date": "2026-04-27", "name": "Giỗ Tổ Hùng Vương (10/3 âm lịch = CN 26/4), nghỉ bù"},
        {"date": "2026-04-30", "name": "Ngày Giải phóng miền Nam"},
        {"date": "2026-05-01", "name": "Quốc tế Lao động"},
        {"date": "2026-08-31", "name": "Nghỉ (hoán đổi, làm bù thứ Bảy 22/8)"},
        {"date": "2026-09-01", "name": "Quốc khánh"},
        {"date": "2026-09-02", "name": "Quốc khánh"},
    ],
    "working_days": [{"date": "2026-08-22", "name": "Làm bù cho thứ Hai 31/8"}],
    "agencies": {"SATURDAY-OFFICE": {"week": {"sat": ["07:30-11:30"]}}},
}
SUMMER = {"from": "04-16", "to": "10-15",
          "week": {d: ["07:00-11:30", "13:30-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")}}

VN = ZoneInfo("Asia/Ho_Chi_Minh")
EIGHT_HOURS = timedelta(hours=8)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=VN)


CASES = [
    # (what, config, agency, received, expected due) -- each hand-computed in the comment
    ("Fri 15:00 before the Hùng Kings day off (Mon 27/4): Fri 2h, Sat/Sun off, Mon holiday, "
     "Tue 07:30-11:30 4h + 13:00-15:00 2h", CONFIG_2026, None, "2026-04-24T15:00", "2026-04-28T15:00"),
    ("Fri 13/2 10:00 before Tết: Fri 1.5h + 4h, 14-22/2 off, Mon 23/2 07:30-10:00 2.5h",
     CONFIG_2026, None, "2026-02-13T10:00", "2026-02-23T10:00"),
    ("Fri 21/8 16:00, Sat 22/8 is a swapped working day: Fri 1h, Sat 4h + 3h -> Sat 16:00",
     CONFIG_2026, None, "2026-08-21T16:00", "2026-08-22T16:00"),
    ("Fri 28/8 14:00 before National Day: Fri 3h, 29/8-2/9 off, Thu 3/9 4h + 1h",
     CONFIG_2026, None, "2026-08-28T14:00", "2026-09-03T14:00"),
    ("received Saturday 10:00 (office closed): Mon 07:30 + 8h ends at Mon 17:00, not Tue 07:30",
     CONFIG_2026, None, "2026-03-07T10:00", "2026-03-09T17:00"),
    ("received Wed 12:00 (lunch): starts 13:00, 4h to 17:00, Thu 4h to 11:30",
     CONFIG_2026, None, "2026-03-11T12:00", "2026-03-12T11:30"),
    ("one-stop office open Saturday morning: Fri 15:00 2h, Sat 4h, Mon 07:30-09:30 2h",
     CONFIG_2026, "SATURDAY-OFFICE", "2026-03-06T15:00", "2026-03-09T09:30"),
    ("summer hours 07:00-11:30, 13:30-17:00 from 16/4: Fri 5/6 15:00 2h, Mon 8/6 4.5h + 1.5h",
     CONFIG_2026 | {"seasons": [SUMMER]}, None, "2026-06-05T15:00", "2026-06-08T15:00"),
    ("received on a holiday (Thu 30/4 09:00): Fri 1/5 holiday, weekend, Mon 4/5 full day",
     CONFIG_2026, None, "2026-04-30T09:00", "2026-05-04T17:00"),
    ("UTC input: 2026-04-24T08:00Z = 15:00 in Vietnam (UTC+7): same as the first case",
     CONFIG_2026, None, "2026-04-24T08:00+00:00", "2026-04-28T15:00"),
]


def main() -> int:
    failures = 0
    for what, config, agency, received, expected in CASES:
        calendar = Calendar.from_config(config, agency)
        start = datetime.fromisoformat(received)
        start = start if start.tzinfo else start.replace(tzinfo=VN)
        due = add_working_time(calendar, start, EIGHT_HOURS)
        ok = due == at(expected) and working_time_between(calendar, start, due) == EIGHT_HOURS
        failures += not ok
        print(f"{'OK  ' if ok else 'FAIL'} {received} -> {due.strftime('%a %Y-%m-%d %H:%M %Z')} "
              f"(expected {expected})  {what}")
    # Status figures the Deadlines page needs: working time left (negative: overdue).
    calendar = Calendar.from_config(CONFIG_2026)
    due = add_working_time(calendar, at("2026-04-24T15:00"), EIGHT_HOURS)
    for now in ("2026-04-28T13:00", "2026-04-28T15:00", "2026-04-28T18:00", "2026-04-29T08:00"):
        left = working_time_between(calendar, at(now), due)
        # Overdue is decided on the wall clock: after 17:00 the working time left is 0 but
        # a due time of 15:00 has passed all the same.
        state = "overdue" if at(now) > due else "due soon" if left <= timedelta(hours=2) else "open"
        print(f"     at {now}: working hours left {left.total_seconds() / 3600:+.1f} -> {state}")
    # Round trip on random instants: between(start, add(start, h)) == h.
    rng = random.Random(7)
    calendar = Calendar.from_config(CONFIG_2026 | {"seasons": [SUMMER]}, "SATURDAY-OFFICE")
    for _ in range(2000):
        start = at("2026-01-01T00:00") + timedelta(minutes=rng.randrange(0, 365 * 24 * 60))
        hours = timedelta(minutes=rng.randrange(0, 40 * 60))
        due = add_working_time(calendar, start, hours)
        if working_time_between(calendar, start, due) != hours:
            failures += 1
            print("FAIL round trip", start, hours, due)
            break
    else:
        print("OK   2000 random round trips: working_time_between(start, add_working_time(start, h)) == h")
    try:
        add_working_time(Calendar.from_config({"week": {}}), at("2026-01-01T00:00"), EIGHT_HOURS)
    except ValueError as error:
        print("OK   empty calendar refused:", error)
    print(f"{len(CASES) + 2 - failures} passed, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
