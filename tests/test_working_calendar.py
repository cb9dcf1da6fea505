"""The working calendar of the 8-working-hour acceptance deadline: hand-computed cases of
docs/research/console/README.md §2, round trips, validation and the shipped 2026 file."""

import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from pydantic import ValidationError

from gateway.domain.working_calendar import NoWorkingTime, Period, WorkingCalendar

VN = ZoneInfo("Asia/Ho_Chi_Minh")
EIGHT_HOURS = timedelta(hours=8)
DEPLOYED = Path(__file__).resolve().parent.parent / "deploy" / "calendar-2026.yaml"
SATURDAY_OFFICE = "000.00.21.H12"
SUMMER = {"start": "04-16", "end": "10-15",
          "week": {day: ["07:00-11:30", "13:30-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")}}
CONFIG_2026 = {
    "holidays": [
        {"date": "2026-01-01", "name": "Tết Dương lịch"},
        *({"date": f"2026-02-{day}", "name": "Tết Nguyên đán"} for day in range(16, 21)),
        {"date": "2026-04-27", "name": "Giỗ Tổ Hùng Vương (nghỉ bù)"},
        {"date": "2026-04-30", "name": "Ngày Giải phóng miền Nam"},
        {"date": "2026-05-01", "name": "Quốc tế Lao động"},
        {"date": "2026-08-31", "name": "Nghỉ hoán đổi"},
        {"date": "2026-09-01", "name": "Quốc khánh"},
        {"date": "2026-09-02", "name": "Quốc khánh"},
    ],
    "working_days": [{"date": "2026-08-22", "name": "Làm bù cho thứ Hai 31/8"}],
    "agencies": {SATURDAY_OFFICE: {"week": {"sat": ["07:30-11:30"]}}},
}
CALENDAR = WorkingCalendar(**CONFIG_2026)
SUMMER_CALENDAR = WorkingCalendar(**CONFIG_2026, seasons=[SUMMER])


def at(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=VN)


CASES = [  # (calendar, agency, received, due); the hand computation in the id
    pytest.param(CALENDAR, None, "2026-04-24T15:00", "2026-04-28T15:00",
                 id="Fri 2h, weekend, Mon 27-4 Hung Kings off, Tue 4h+2h"),
    pytest.param(CALENDAR, None, "2026-02-13T10:00", "2026-02-23T10:00",
                 id="Tet: Fri 1.5h+4h, 14-22-2 off, Mon 2.5h"),
    pytest.param(CALENDAR, None, "2026-08-21T16:00", "2026-08-22T16:00",
                 id="Fri 1h, swapped Saturday 22-8 worked 4h+3h"),
    pytest.param(CALENDAR, None, "2026-08-28T14:00", "2026-09-03T14:00",
                 id="Fri 3h, 29-8 to 2-9 off, Thu 4h+1h"),
    pytest.param(CALENDAR, None, "2026-03-07T10:00", "2026-03-09T17:00",
                 id="closed Saturday: Mon 07:30 + 8h ends at the period end 17:00"),
    pytest.param(CALENDAR, None, "2026-03-11T12:00", "2026-03-12T11:30",
                 id="lunch: starts 13:00, 4h, Thu 4h"),
    pytest.param(CALENDAR, SATURDAY_OFFICE, "2026-03-06T15:00", "2026-03-09T09:30",
                 id="agency open Saturday morning: Fri 2h, Sat 4h, Mon 2h"),
    pytest.param(SUMMER_CALENDAR, None, "2026-06-05T15:00", "2026-06-08T15:00",
                 id="summer 07:00-11:30 13:30-17:00: Fri 2h, Mon 4.5h+1.5h"),
    pytest.param(CALENDAR, None, "2026-04-30T09:00", "2026-05-04T17:00",
                 id="received on a holiday: 30-4 and 1-5 off, weekend, Mon full day"),
    pytest.param(CALENDAR, None, "2026-04-24T08:00+00:00", "2026-04-28T15:00",
                 id="UTC input 08:00Z is 15:00 in Vietnam"),
]


@pytest.mark.parametrize(("calendar", "agency", "received", "due"), CASES)
def test_hand_computed_due_times(calendar: WorkingCalendar, agency: str | None, received: str, due: str) -> None:
    result = calendar.add_working_time(at(received), EIGHT_HOURS, agency)
    assert result == at(due)
    assert result.tzinfo == VN
    assert calendar.working_time_between(at(received), result, agency) == EIGHT_HOURS
    assert calendar.working_time_between(result, at(received), agency) == -EIGHT_HOURS


@pytest.mark.parametrize(("start", "hours", "end"), [
    ("2026-03-09T07:30", 8, "2026-03-09T17:00"),
    ("2026-03-09T13:00", 4, "2026-03-09T17:00"),
    ("2026-03-09T07:30", 4, "2026-03-09T11:30"),
    ("2026-03-09T18:00", 0, "2026-03-09T18:00"),  # nothing to add: the start itself
])
def test_time_running_out_at_a_period_end_gives_that_end(start: str, hours: int, end: str) -> None:
    assert CALENDAR.add_working_time(at(start), timedelta(hours=hours)) == at(end)


@pytest.mark.parametrize(("calendar", "agency"), [(CALENDAR, None), (SUMMER_CALENDAR, SATURDAY_OFFICE)])
def test_random_round_trips(calendar: WorkingCalendar, agency: str | None) -> None:
    rng = random.Random(7)
    for _ in range(1000):
        start = at("2026-01-01T00:00") + timedelta(minutes=rng.randrange(365 * 24 * 60))
        amount = timedelta(minutes=rng.randrange(40 * 60))
        due = calendar.add_working_time(start, amount, agency)
        assert calendar.working_time_between(start, due, agency) == amount, (start, amount, due)


def test_precedence() -> None:
    calendar = WorkingCalendar(
        seasons=[SUMMER],
        holidays=[{"date": "2026-06-06", "name": "a Saturday off"}, {"date": "2026-06-08", "name": "a Monday off"}],
        working_days=[{"date": "2026-06-13", "name": "swapped"},
                      {"date": "2026-06-20", "name": "short", "periods": ["08:00-10:00"]}],
        agencies={"A": {"week": {"sat": ["07:30-11:30"], "mon": ["08:00-12:00"]}}})

    def hours(day: str, agency: str | None = None) -> list[str]:
        return [f"{a:%H:%M}-{b:%H:%M}" for a, b in calendar.periods_on(date.fromisoformat(day), agency)]

    assert hours("2026-06-05") == ["07:00-11:30", "13:30-17:00"]  # season over default week
    assert hours("2026-01-05") == ["07:30-11:30", "13:00-17:00"]  # out of season
    assert hours("2026-06-01", "A") == ["08:00-12:00"]  # agency over season
    assert hours("2026-06-06", "A") == hours("2026-06-08", "A") == []  # holidays over agency
    assert hours("2026-06-13") == ["07:00-11:30", "13:30-17:00"]  # working day: the season's Monday
    assert hours("2026-06-13", "A") == ["08:00-12:00"]  # ... that agency's Monday
    assert hours("2026-06-20", "A") == ["08:00-10:00"]
    assert calendar.is_working_day(date(2026, 6, 13)) and not calendar.is_working_day(date(2026, 6, 14))
    assert calendar.is_working_day(date(2026, 6, 27), "A") and not calendar.is_working_day(date(2026, 6, 27))
    assert calendar.holiday_name(date(2026, 6, 8)) == "a Monday off"
    assert calendar.holiday_name(date(2026, 6, 9)) is None


def test_season_wrapping_the_year_end() -> None:
    winter = {"start": "10-16", "end": "04-15", "week": {"mon": ["08:00-12:00"]}}
    calendar = WorkingCalendar(seasons=[winter])
    for day, first in [(date(2026, 1, 5), 8), (date(2026, 12, 28), 8), (date(2026, 6, 1), 7)]:
        assert calendar.periods_on(day)[0][0].hour == first


def test_cached_periods_are_not_shared_and_follow_changes() -> None:
    calendar = WorkingCalendar()
    calendar.periods_on(date(2026, 3, 9)).clear()
    assert len(calendar.periods_on(date(2026, 3, 9))) == 2
    calendar.holidays = [{"date": "2026-03-09", "name": "off"}]
    assert calendar.periods_on(date(2026, 3, 9)) == []
    assert calendar.model_copy(update={"holidays": []}).is_working_day(date(2026, 3, 9))


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="start must be timezone-aware"):
        CALENDAR.add_working_time(datetime(2026, 3, 9, 8), EIGHT_HOURS)
    with pytest.raises(ValueError, match="end must be timezone-aware"):
        CALENDAR.working_time_between(at("2026-03-09T08:00"), datetime(2026, 3, 9, 9))
    with pytest.raises(ValueError, match="must not be negative"):
        CALENDAR.add_working_time(at("2026-03-09T08:00"), -EIGHT_HOURS)


def test_between_counts_across_zones() -> None:
    start = datetime(2026, 3, 9, 0, 30, tzinfo=UTC)  # 07:30 in Vietnam
    assert CALENDAR.working_time_between(start, at("2026-03-09T12:00")) == timedelta(hours=4)


@pytest.mark.parametrize(("config", "message"), [
    ({"week": {"mon": ["7:30-11:30"]}}, r"'7:30-11:30' is not HH:MM-HH:MM"),
    ({"week": {"mon": ["07:30-25:00"]}}, r"is not HH:MM-HH:MM"),
    ({"week": {"mon": ["11:30-07:30"]}}, r"start must be before end"),
    ({"week": {"mon": ["07:30-11:30", "11:00-12:00"]}}, r"mon: periods 07:30-11:30 and 11:00-12:00 overlap"),
    ({"week": {"monday": ["07:30-11:30"]}}, r"unknown weekday\(s\) \['monday'\]"),
    ({"agencies": {"A": {"week": {"sat": ["12:00-08:00"]}}}}, r"start must be before end"),
    ({"timezone": "Asia/Hanoi_City"}, r"unknown time zone 'Asia/Hanoi_City'"),
    ({"seasons": [{"start": "13-01", "end": "04-15", "week": {}}]}, r"'13-01' is not a day of the year"),
    ({"seasons": [SUMMER, {"start": "10-01", "end": "12-31", "week": {}}]}, r"overlap on 10-01"),
    ({"holidays": [{"date": "2026-01-01", "name": "a"}, {"date": "2026-01-01", "name": "b"}]},
     r"2026-01-01 listed more than once"),
    ({"working_days": [{"date": "2026-08-22", "name": "x", "periods": ["08:00"]}]}, r"not HH:MM-HH:MM"),
    ({"week": {}, "weeks": {}}, r"weeks\s+Extra inputs are not permitted"),
])
def test_invalid_configuration_names_the_problem(config: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        WorkingCalendar(**config)


def test_period_parsing() -> None:
    period = Period.parse("07:30-11:30")
    assert (period.start.hour, period.start.minute, period.end.hour) == (7, 30, 11)


def test_a_calendar_without_working_time_is_a_clear_error() -> None:
    with pytest.raises(NoWorkingTime, match="no working time in 400 days"):
        WorkingCalendar(week={}).add_working_time(at("2026-01-01T00:00"), EIGHT_HOURS)
    assert WorkingCalendar(week={}).working_time_between(at("2026-01-01T00:00"), at("2027-01-01T00:00")) == timedelta(0)


def test_a_long_amount_is_not_mistaken_for_an_empty_calendar() -> None:
    start = at("2026-01-05T07:30")
    due = CALENDAR.add_working_time(start, timedelta(hours=8 * 300))
    assert CALENDAR.working_time_between(start, due) == timedelta(hours=8 * 300)


def test_the_shipped_2026_calendar_loads() -> None:
    data = yaml.safe_load(DEPLOYED.read_text(encoding="utf-8"))
    calendar = WorkingCalendar(**data["calendar"])
    assert calendar.holiday_name(date(2026, 4, 27)) is not None
    assert not calendar.is_working_day(date(2026, 4, 27))
    assert date(2026, 8, 22) in {day.date for day in calendar.working_days}
    assert calendar.is_working_day(date(2026, 8, 22))
    assert calendar.add_working_time(at("2026-04-24T15:00"), EIGHT_HOURS) == at("2026-04-28T15:00")
