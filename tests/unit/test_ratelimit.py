"""Rate limits: parsing ``X-Sentry-Rate-Limits`` and ``Retry-After``, and the per-category state.

Everything runs on a fake monotonic clock; only HTTP-date ``Retry-After`` values involve the
wall clock (they name a moment, not a delay).
"""

from __future__ import annotations

import datetime
from email.utils import format_datetime
from typing import Dict, List, Optional

import pytest

from raven.transport.ratelimit import (
    DEFAULT_RETRY_AFTER,
    KNOWN_CATEGORIES,
    RateLimits,
    parse_rate_limits,
)


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def limits(clock: FakeClock) -> RateLimits:
    return RateLimits(clock)


def header(value: str) -> Dict[str, str]:
    return {"X-Sentry-Rate-Limits": value}


def http_date_in(seconds: float) -> str:
    when = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)
    return format_datetime(when, usegmt=True)


# -- parsing the header -----------------------------------------------------------------------


def test_a_quota_gives_its_seconds_and_categories() -> None:
    assert list(parse_rate_limits("60:error;transaction:key")) == [(60.0, ("error", "transaction"))]


def test_empty_categories_parse_as_no_names_meaning_all() -> None:
    assert list(parse_rate_limits("30::organization")) == [(30.0, ())]


def test_several_quotas_are_comma_separated() -> None:
    assert list(parse_rate_limits("60:error:key, 2700:transaction;session:organization")) == [
        (60.0, ("error",)),
        (2700.0, ("transaction", "session")),
    ]


def test_spaces_around_fields_and_categories_are_tolerated() -> None:
    assert list(parse_rate_limits("  60 : error ; transaction : key  ,  10 ::org ")) == [
        (60.0, ("error", "transaction")),
        (10.0, ()),
    ]


def test_extra_fields_after_the_scope_are_ignored() -> None:
    assert list(parse_rate_limits("60:error:organization:quota_exceeded:custom:more")) == [
        (60.0, ("error",))
    ]


def test_a_quota_with_only_seconds_limits_everything() -> None:
    assert list(parse_rate_limits("15")) == [(15.0, ())]


def test_fractional_seconds_are_kept() -> None:
    assert list(parse_rate_limits("1.5:error:key")) == [(1.5, ("error",))]


@pytest.mark.parametrize(
    "value",
    ["", ",", "abc:error:key", ":error:key", "-5:error:key", "nan:error:key", " , ,"],
)
def test_unparseable_quotas_are_skipped(value: str) -> None:
    assert list(parse_rate_limits(value)) == []


def test_a_bad_quota_does_not_hide_the_good_ones_beside_it() -> None:
    assert list(parse_rate_limits("soon:error:key, 20:error:key")) == [(20.0, ("error",))]


def test_the_known_categories_are_sentrys() -> None:
    assert {"default", "error", "transaction", "attachment", "session", "internal"} <= (
        KNOWN_CATEGORIES
    )


# -- the state: X-Sentry-Rate-Limits ----------------------------------------------------------


def test_nothing_is_limited_before_any_response(limits: RateLimits) -> None:
    assert not limits.is_limited("error")
    assert limits.remaining("error") == 0
    assert not limits.any_active()


def test_the_header_on_a_200_response_is_honoured(limits: RateLimits) -> None:
    assert limits.update(200, header("60:error:key")) == 60
    assert limits.is_limited("error")
    assert limits.remaining("error") == 60


def test_a_limit_holds_only_its_own_categories(limits: RateLimits) -> None:
    limits.update(200, header("60:transaction;session:key"))
    assert limits.is_limited("transaction")
    assert limits.is_limited("session")
    assert not limits.is_limited("error")
    assert limits.remaining("error") == 0


def test_empty_categories_limit_every_category(limits: RateLimits) -> None:
    limits.update(200, header("60::organization"))
    for category in ("error", "default", "transaction", "internal"):
        assert limits.is_limited(category)
        assert limits.remaining(category) == 60


def test_unknown_categories_in_a_quota_are_ignored_and_known_ones_honoured(
    limits: RateLimits,
) -> None:
    limits.update(200, header("60:error;made_up_category:key"))
    assert limits.is_limited("error")
    assert not limits.is_limited("made_up_category")


def test_a_limit_naming_only_unknown_categories_is_ignored(limits: RateLimits) -> None:
    assert limits.update(200, header("60:made_up;also_made_up:key")) is None
    assert not limits.is_limited("error")
    assert not limits.any_active()


def test_when_limits_collide_the_longest_wins(limits: RateLimits) -> None:
    limits.update(200, header("10:error:key, 120:error:organization, 30:error:project"))
    assert limits.remaining("error") == 120


def test_a_later_shorter_limit_does_not_shorten_an_earlier_longer_one(
    limits: RateLimits, clock: FakeClock
) -> None:
    limits.update(200, header("120:error:key"))
    clock.advance(20)
    limits.update(200, header("10:error:key"))
    assert limits.remaining("error") == 100


def test_a_later_longer_limit_extends_an_earlier_one(limits: RateLimits, clock: FakeClock) -> None:
    limits.update(200, header("10:error:key"))
    clock.advance(5)
    limits.update(200, header("60:error:key"))
    assert limits.remaining("error") == 60


def test_a_category_is_held_by_the_longer_of_its_own_and_the_global_limit(
    limits: RateLimits,
) -> None:
    limits.update(200, header("30:error:key, 90::organization"))
    assert limits.remaining("error") == 90
    assert limits.remaining("transaction") == 90


def test_update_returns_the_longest_limit_it_applied(limits: RateLimits) -> None:
    assert limits.update(200, header("30:error:key, 90:transaction:key")) == 90


def test_a_limit_ends_when_its_time_is_up(limits: RateLimits, clock: FakeClock) -> None:
    limits.update(200, header("60:error:key"))
    clock.advance(59.9)
    assert limits.is_limited("error")
    clock.advance(0.1)
    assert not limits.is_limited("error")
    assert limits.remaining("error") == 0
    assert not limits.any_active()


def test_any_active_is_true_while_some_category_is_held(
    limits: RateLimits, clock: FakeClock
) -> None:
    limits.update(200, header("10:transaction:key"))
    assert limits.any_active()
    clock.advance(11)
    assert not limits.any_active()


def test_clear_forgets_every_limit(limits: RateLimits) -> None:
    limits.update(200, header("60::org"))
    limits.clear()
    assert not limits.is_limited("error")


def test_a_zero_second_limit_holds_nothing(limits: RateLimits) -> None:
    limits.update(200, header("0:error:key"))
    assert not limits.is_limited("error")


def test_a_200_without_the_header_changes_nothing(limits: RateLimits) -> None:
    assert limits.update(200, {"Retry-After": "60"}) is None
    assert limits.update(200, {}) is None
    assert limits.update(200, None) is None
    assert not limits.any_active()


def test_header_names_are_matched_case_insensitively_in_a_plain_dict(
    limits: RateLimits,
) -> None:
    limits.update(200, {"x-sentry-rate-limits": "60:error:key"})
    assert limits.is_limited("error")


class CaseInsensitiveHeaders:
    """A response-headers object with only ``get`` (like urllib3's and requests' mappings)."""

    def __init__(self, values: Dict[str, str]) -> None:
        self._values = {k.lower(): v for k, v in values.items()}

    def get(self, name: str, default: Optional[str] = None) -> Optional[str]:
        return self._values.get(name.lower(), default)

    def __bool__(self) -> bool:
        return bool(self._values)


def test_any_headers_object_with_get_is_read(limits: RateLimits) -> None:
    limits.update(429, CaseInsensitiveHeaders({"retry-after": "15"}))
    assert limits.remaining("error") == 15


# -- the state: 429 and Retry-After -----------------------------------------------------------


def test_a_429_with_only_retry_after_limits_every_category(limits: RateLimits) -> None:
    assert limits.update(429, {"Retry-After": "30"}) == 30
    for category in ("error", "default", "transaction", "internal"):
        assert limits.remaining(category) == 30


def test_a_429_with_an_http_date_retry_after_limits_until_that_date(limits: RateLimits) -> None:
    limits.update(429, {"Retry-After": http_date_in(120)})
    # HTTP dates have whole seconds, and a little time passes while the test runs
    assert 115 <= limits.remaining("error") <= 120


def test_a_bare_429_limits_everything_for_a_minute(limits: RateLimits) -> None:
    assert DEFAULT_RETRY_AFTER == 60
    assert limits.update(429, {}) == 60
    assert limits.remaining("error") == 60
    assert limits.remaining("transaction") == 60


def test_a_429_with_an_unreadable_retry_after_limits_everything_for_a_minute(
    limits: RateLimits,
) -> None:
    limits.update(429, {"Retry-After": "whenever"})
    assert limits.remaining("error") == 60


def test_on_a_429_the_rate_limits_header_wins_over_retry_after(limits: RateLimits) -> None:
    limits.update(429, {"X-Sentry-Rate-Limits": "20:transaction:key", "Retry-After": "90"})
    assert limits.remaining("transaction") == 20
    assert not limits.is_limited("error")


def test_a_429_whose_header_names_only_unknown_categories_falls_back_to_retry_after(
    limits: RateLimits,
) -> None:
    limits.update(429, {"X-Sentry-Rate-Limits": "20:made_up:key", "Retry-After": "45"})
    assert limits.remaining("error") == 45


def test_retry_after_on_a_non_429_answer_sets_no_limit(limits: RateLimits) -> None:
    for status in (200, 500, 503):
        assert limits.update(status, {"Retry-After": "30"}) is None
    assert not limits.any_active()


def test_a_limit_outlives_nothing_but_its_own_deadline(
    limits: RateLimits, clock: FakeClock
) -> None:
    limits.update(429, {"Retry-After": "5"})
    seen: List[bool] = []
    for _ in range(6):
        seen.append(limits.is_limited("error"))
        clock.advance(1)
    assert seen == [True, True, True, True, True, False]
