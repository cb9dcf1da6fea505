"""Vietnamese working calendar (lịch làm việc): working periods per weekday, seasons, days off
(ngày nghỉ lễ) and swapped working days (ngày làm bù); used for deadlines counted in working hours,
such as the acceptance decision due within 8 working hours of receipt.
Facts: a 40-hour week with Saturday and Sunday off (Decision 188/1999/QĐ-TTg); public holidays by
Labour Code 2019 art. 112; each year the Ministry of Home Affairs (Bộ Nội vụ) publishes the days off
and the Saturdays worked in exchange. Hours vary by province and season, so all of it is data.
Precedence for one date: working_days > holidays > the agency's weekday override > the season's
week > the default week. Times are wall-clock times in `timezone`.
"""

import itertools
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Annotated, Any, Literal, NamedTuple, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WORKDAY = ("07:30-11:30", "13:00-17:00")
MAX_IDLE_DAYS = 400  # this many days in a row without working time: the calendar is wrong
_PERIOD = re.compile(r"([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)")
_MONTH_DAY = re.compile(r"(\d\d)-(\d\d)")


class NoWorkingTime(ValueError):
    """The calendar has no working time for MAX_IDLE_DAYS days in a row."""


class Period(NamedTuple):
    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> "Period":
        match = _PERIOD.fullmatch(text) if isinstance(text, str) else None
        if not match:
            raise ValueError(f"period {text!r} is not HH:MM-HH:MM, e.g. '07:30-11:30'")
        hour, minute, end_hour, end_minute = map(int, match.groups())
        period = cls(time(hour, minute), time(end_hour, end_minute))
        if period.start >= period.end:
            raise ValueError(f"period {text!r}: start must be before end")
        return period


def parse_periods(texts: list[str]) -> tuple[Period, ...]:
    """Sorted periods of one day; overlapping ones are refused (touching ones are fine)."""
    periods = sorted(Period.parse(text) for text in texts)
    for before, after in itertools.pairwise(periods):
        if after.start < before.end:
            raise ValueError(f"periods {_text(before)} and {_text(after)} overlap")
    return tuple(periods)


def _text(period: Period) -> str:
    return f"{period.start:%H:%M}-{period.end:%H:%M}"


def _known_weekdays(value: Any) -> Any:
    # before pydantic's own Literal check, to name the day and the accepted spellings
    if isinstance(value, dict):
        unknown = [day for day in value if day not in DAYS]
        if unknown:
            raise ValueError(f"unknown weekday(s) {unknown}; use {', '.join(DAYS)}")
    return value


def _valid_periods(week: dict[str, list[str]]) -> dict[str, list[str]]:
    for day, texts in week.items():
        try:
            parse_periods(texts)
        except ValueError as error:
            raise ValueError(f"{day}: {error}") from None
    return week


Week = Annotated[dict[Weekday, list[str]], BeforeValidator(_known_weekdays), AfterValidator(_valid_periods)]


def _default_week() -> dict[Weekday, list[str]]:
    return {"mon": list(WORKDAY), "tue": list(WORKDAY), "wed": list(WORKDAY), "thu": list(WORKDAY),
            "fri": list(WORKDAY), "sat": [], "sun": []}


Date = date  # fields below are named `date`, which would shadow the type in their class


class CalendarModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Holiday(CalendarModel):
    date: Date = Field(description="A day off (ngày nghỉ lễ, nghỉ bù) in the calendar's time zone")
    name: str = Field(min_length=1, description="Why, e.g. 'Tết Nguyên đán'")


class WorkingDay(CalendarModel):
    date: Date = Field(description="A day worked although normally off (ngày làm bù), e.g. a swapped Saturday")
    name: str = Field(min_length=1, description="Why, e.g. 'làm bù cho thứ Hai 31/8'")
    periods: list[str] | None = Field(
        default=None, description="Working periods HH:MM-HH:MM; omitted or empty: the Monday periods of the week "
                                  "in force that day (season and agency included)")

    @field_validator("periods")
    @classmethod
    def _periods(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            parse_periods(value)
        return value


class Season(CalendarModel):
    start: str = Field(description="First day MM-DD, e.g. '04-16'")
    end: str = Field(description="Last day MM-DD, inclusive; before start: the season wraps the year end")
    week: Week = Field(
        description="Periods of the weekdays it names (summer or winter hours); others: the default week")

    @field_validator("start", "end")
    @classmethod
    def _month_day(cls, value: str) -> str:
        _parse_month_day(value)
        return value

    def covers(self, month_day: tuple[int, int]) -> bool:
        start, end = _parse_month_day(self.start), _parse_month_day(self.end)
        if start <= end:
            return start <= month_day <= end
        return month_day >= start or month_day <= end


def _parse_month_day(text: str) -> tuple[int, int]:
    match = _MONTH_DAY.fullmatch(text)
    try:
        if not match:
            raise ValueError
        date(2000, int(match[1]), int(match[2]))  # a leap year: 02-29 is allowed
    except ValueError:
        raise ValueError(f"{text!r} is not a day of the year as MM-DD, e.g. '04-16'") from None
    return int(match[1]), int(match[2])


class AgencyCalendar(CalendarModel):
    week: Week = Field(description="Periods of the weekdays it names, over the season or default week, "
                                   "e.g. {sat: ['07:30-11:30']} for a one-stop office open Saturday mornings")


@dataclass(frozen=True, eq=False)  # hashed by identity: the key of the per-day cache
class _Rules:
    zone: ZoneInfo
    week: tuple[tuple[Period, ...], ...]  # seven days
    seasons: tuple[tuple[Season, dict[int, tuple[Period, ...]]], ...]
    agencies: dict[str, dict[int, tuple[Period, ...]]]
    holidays: dict[date, str]
    working_days: dict[date, tuple[Period, ...] | None]


def _by_index(week: dict[str, list[str]]) -> dict[int, tuple[Period, ...]]:
    return {DAYS.index(day): parse_periods(texts) for day, texts in week.items()}


class WorkingCalendar(CalendarModel):
    """The `calendar` settings group: when the agencies work. Treat it as immutable data once
    loaded; per-day periods are cached, and in-place edits of its lists would not be seen."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    timezone: str = Field(default="Asia/Ho_Chi_Minh", description="IANA time zone of the periods and dates")
    week: Week = Field(
        default_factory=_default_week,
        description="Default working periods per weekday, HH:MM-HH:MM; a weekday not named has none")
    seasons: list[Season] = Field(
        default_factory=list, description="Yearly ranges with their own hours (summer/winter); must not overlap")
    holidays: list[Holiday] = Field(
        default_factory=list, description="Days off on days otherwise worked, from each year's notice")
    working_days: list[WorkingDay] = Field(
        default_factory=list, description="Days worked although otherwise off (swapped Saturdays)")
    agencies: dict[str, AgencyCalendar] = Field(
        default_factory=dict, description="Per-agency weekday overrides, by agency code (mã đơn vị)")

    _rules: _Rules = PrivateAttr()

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as Asia/Ho_Chi_Minh") from None
        return value

    @model_validator(mode="after")
    def _compile(self) -> Self:
        # runs again on assignment (validate_assignment), so the rules follow the fields
        for label, days in (("holidays", self.holidays), ("working_days", self.working_days)):
            seen = [entry.date for entry in days]
            if repeated := sorted({day for day in seen if seen.count(day) > 1}):
                raise ValueError(f"{label}: {', '.join(map(str, repeated))} listed more than once")
        leap_year = [date(2000, 1, 1) + timedelta(days=n) for n in range(366)]
        for day in leap_year:
            covering = [f"{s.start}..{s.end}" for s in self.seasons if s.covers((day.month, day.day))]
            if len(covering) > 1:
                raise ValueError(f"seasons {' and '.join(covering)} overlap on {day:%m-%d}")
        week = _by_index(self.week)
        self._rules = _Rules(
            zone=ZoneInfo(self.timezone),
            week=tuple(week.get(index, ()) for index in range(7)),
            seasons=tuple((season, _by_index(season.week)) for season in self.seasons),
            agencies={code: _by_index(agency.week) for code, agency in self.agencies.items()},
            holidays={holiday.date: holiday.name for holiday in self.holidays},
            working_days={day.date: None if day.periods is None else parse_periods(day.periods)
                          for day in self.working_days},
        )
        return self

    def model_copy(self, *, update: dict[str, Any] | None = None, deep: bool = False) -> Self:
        # model_copy(update=...) skips validation, which would leave the rules of the original
        copy = super().model_copy(update=update, deep=deep)
        return copy._compile() if update else copy

    def periods_on(self, day: date, agency: str | None = None) -> list[tuple[datetime, datetime]]:
        """Working periods of `day` as aware datetimes in the calendar's zone, in order."""
        zone = self._rules.zone
        return [(start.astimezone(zone), end.astimezone(zone)) for start, end in _spans(self._rules, day, agency)]

    def is_working_day(self, day: date, agency: str | None = None) -> bool:
        return bool(_spans(self._rules, day, agency))

    def holiday_name(self, day: date) -> str | None:
        """The name of the day off on `day`; None when it is not one (or a working day overrides it)."""
        return None if day in self._rules.working_days else self._rules.holidays.get(day)

    def add_working_time(self, start: datetime, amount: timedelta, agency: str | None = None) -> datetime:
        """The earliest moment at which `amount` of working time has passed since `start`, in the
        calendar's zone: an amount running out at a period's end gives that end (17:00, not 07:30
        the next day); a zero amount gives `start`."""
        cursor = _utc(start, "start")
        if amount < timedelta(0):
            raise ValueError(f"amount must not be negative, got {amount}")
        zone = self._rules.zone
        if not amount:
            return start.astimezone(zone)
        remaining, day, idle = amount, cursor.astimezone(zone).date(), 0
        while idle < MAX_IDLE_DAYS:
            spans = _spans(self._rules, day, agency)
            idle = 0 if spans else idle + 1
            for period_start, period_end in spans:
                cursor = max(cursor, period_start)
                if cursor >= period_end:
                    continue
                if remaining <= period_end - cursor:
                    return (cursor + remaining).astimezone(zone)
                remaining -= period_end - cursor
            day += timedelta(days=1)
        raise NoWorkingTime(f"no working time in {MAX_IDLE_DAYS} days in a row up to {day}"
                            f"{f' for agency {agency}' if agency else ''}: check the calendar's week, "
                            "seasons and holidays")

    def working_time_between(self, start: datetime, end: datetime, agency: str | None = None) -> timedelta:
        """Working time in [start, end); negative when end is before start (overdue by that much)."""
        low, high = _utc(start, "start"), _utc(end, "end")
        if high < low:
            return -self.working_time_between(end, start, agency)
        zone = self._rules.zone
        total, day, last = timedelta(0), low.astimezone(zone).date(), high.astimezone(zone).date()
        while day <= last:
            for period_start, period_end in _spans(self._rules, day, agency):
                total += max(timedelta(0), min(period_end, high) - max(period_start, low))
            day += timedelta(days=1)
        return total


def _utc(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {moment.isoformat()}")
    return moment.astimezone(UTC)


@lru_cache(maxsize=16384)
def _spans(rules: _Rules, day: date, agency: str | None) -> tuple[tuple[datetime, datetime], ...]:
    """Working periods of one day in UTC (exact arithmetic even in a zone with summer time)."""
    weekday = day.weekday()
    season = next((week for season, week in rules.seasons if season.covers((day.month, day.day))), {})
    override = rules.agencies.get(agency, {}) if agency is not None else {}

    def in_force(index: int) -> tuple[Period, ...]:
        return override.get(index, season.get(index, rules.week[index]))

    if day in rules.working_days:
        periods = rules.working_days[day] or in_force(0)  # None: a Monday's periods
    elif day in rules.holidays:
        periods = ()
    else:
        periods = in_force(weekday)
    return tuple((datetime.combine(day, start, rules.zone).astimezone(UTC),
                  datetime.combine(day, end, rules.zone).astimezone(UTC)) for start, end in periods)
