"""One duration ladder (units.TIME_UNITS) for a single duration, a table column and the app's columns."""
import math

from hypothesis import given, strategies as st

from planner.units import TIME_UNITS, duration_unit, fmt_hours_column, fmt_time, fmt_time_column


@given(st.floats(min_value=0.0, max_value=1e15, allow_nan=False))
def test_a_column_of_one_entry_reads_as_the_entry_alone(s):
    assert fmt_time_column([s]) == [fmt_time(s)]


@given(st.lists(st.floats(min_value=0.0, max_value=1e12, allow_nan=False), min_size=1, max_size=6))
def test_a_column_has_one_unit_set_by_its_longest_entry(xs):
    cells = fmt_time_column(xs)
    units = {c.rsplit(" ", 1)[1] for c in cells}
    assert len(units) == 1
    assert units == {fmt_time(max(xs)).rsplit(" ", 1)[1]}


@given(st.floats(min_value=0.0, max_value=1e15, allow_nan=False))
def test_no_entry_reads_as_the_next_unit_up(s):
    """0.99996 s read "1,000.0 ms" and 7199.9 s "120.0 min" (each unit's value was judged before rounding)."""
    text = fmt_time(s)
    v, short = text.rsplit(" ", 1)
    u = next(u for u in TIME_UNITS if u.short == short)
    if not math.isinf(u.below) and "e" not in v:
        assert float(v.replace(",", "")) * u.seconds < u.below, text


def test_unknown_and_infinite_entries():
    assert fmt_time(None) == fmt_time(math.nan) == "-"
    assert fmt_time(math.inf) == "never"
    assert fmt_time_column([math.inf, 90.0, math.nan]) == ["never", "90.00 s", "-"]  # inf does not set the unit


def test_run_times_start_at_seconds_and_the_app_uses_the_same_ladder():
    assert fmt_hours_column([30 / 3600]) == ["30.00 s"]  # a 30-second run in seconds, never in ms
    assert fmt_hours_column([0.5 / 3600]) == ["0.50 s"] and fmt_hours_column([1e-9]) == ["<0.001 s"]
    assert fmt_time(100 * 3600) == "4.2 d"  # a 100-hour GBDT run read "100.0 h" (its own minutes/hours rule)
    for hours in (0.5, 5.0, 100.0, 2e5):
        scale, short, _ = duration_unit(hours)
        assert fmt_hours_column([hours])[0].endswith(f" {short}")
        assert scale == 3600.0 / next(u.seconds for u in TIME_UNITS if u.short == short)


def test_an_entry_that_would_read_zero_keeps_a_significant_figure():
    # two significant figures under one unit since QA 67 (units._in_unit)
    assert fmt_hours_column([0.0001, 30.0]) == ["0.00010 h", "30.0 h"]
    assert fmt_time_column([0.004, 54.0]) == ["0.0040 s", "54.00 s"]
    assert fmt_time(0.0) == "0.0 ms"
