"""The one dollar format of tables, cards, notes and charts."""

import pytest

from brain.money import count, usd


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "-"),
        (0, "$0"),
        (1, "$1.00"),
        (1234.5678, "$1,234.57"),
        (2_773_000.1, "$2,773,000.10"),
        (0.427, "$0.427"),
        (0.03, "$0.03"),
        (0.5, "$0.50"),
        (0.999, "$0.999"),
        (0.9999, "$1.00"),
        (0.00035, "$0.00035"),
        (5.514e-05, "$0.0000551"),
        (1e-12, "<$0.00000001"),
        (-0.25, "-$0.25"),
        (-1500, "-$1,500.00"),
        (float("nan"), "-"),
    ],
)
def test_usd(value, text):
    assert usd(value) == text


def test_an_unknown_amount_reads_as_told_and_nothing_is_in_scientific_notation():
    assert usd(None, missing="unpriced") == "unpriced"
    for k in range(-12, 10):
        assert "e" not in usd(1.2345 * 10.0**k)


def test_counts_read_in_the_plural_unless_one():
    assert [count(n, "request") for n in (0, 1, 2, 12345)] == ["0 requests", "1 request", "2 requests", "12,345 requests"]
