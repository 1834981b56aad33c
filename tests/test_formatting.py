"""The one number style shared by every renderer."""

import math

import pytest

from kdaudit import formatting as f


@pytest.mark.parametrize(
    ("x", "expected"),
    [
        (0.061, "+6.1 pp"),
        (-0.0235, "-2.4 pp"),
        (2.776e-17, "±0.0 pp"),
        (-0.0004, "±0.0 pp"),
        (None, "—"),
        (math.nan, "—"),
    ],
)
def test_pp(x, expected):
    assert f.pp(x) == expected


@pytest.mark.parametrize(
    ("p", "expected"),
    [
        (0.0, "p < 0.001"),
        (0.0004, "p < 0.001"),
        (0.0012, "p = 0.001"),
        (0.0123, "p = 0.012"),
        (0.062, "p = 0.062"),
        (0.31, "p = 0.31"),
        (1.0, "p = 1"),
        (None, "—"),
    ],
)
def test_pval(p, expected):
    assert f.pval(p) == expected


@pytest.mark.parametrize(
    ("x", "expected"),
    [
        (0.0505105382922, "0.0505"),
        (4.798e-05, "4.80e-05"),
        (0.0001306, "0.000131"),
        (123.456, "123"),
        (0.09996, "0.100"),
        (0, "0"),
        (12345, "12,345"),
        (1.0, "1.00"),
    ],
)
def test_num(x, expected):
    assert f.num(x) == expected


def test_pct_ci_and_signed():
    assert f.pct(0.115) == "11.5%"
    assert f.ci(-0.012, 0.034) == "[-1.2, +3.4] pp"
    assert f.ci(0.101, 0.123, unit="%") == "[10.1%, 12.3%]"
    assert f.ci(None, 0.1) == "—"
    assert f.signed_num(0.0123) == "+0.0123"
    assert f.signed_num(-1e-20) == "-1.00e-20"
    assert f.signed_num(0.0) == "0"


def test_with_ci_and_level():
    assert f.with_ci(0.005, -0.015, 0.055) == "+0.5 pp [-1.5, +5.5]"
    assert f.with_ci(0.115, 0.098, 0.131, unit="%") == "11.5% [9.8%, 13.1%]"
    assert f.with_ci(0.0123, 0.01, 0.015, unit="") == "0.0123 [0.0100, 0.0150]"
    assert f.with_ci(0.0123, -0.01, 0.015, unit="+") == "+0.0123 [-0.0100, +0.0150]"
    assert f.with_ci(0.2, None, 0.3, unit="%") == "20.0%"
    assert f.with_ci(None, 0.1, 0.3) == "—"
    assert f.level(0.25) == "25.0%"
    assert f.level(-0.25, "pp") == "-25.0 pp"
    assert f.level(3, "") == "3"


def test_one_number_reads_the_same_whichever_way_it_was_computed():
    # 0.0375 from `teacher - student` and -0.0375 from `student - teacher` carry binary noise
    assert f.pp(0.0375) == "+3.8 pp" and f.pp(-0.037499999999999) == "-3.8 pp"
    assert f.pct(0.11449999999999) == "11.5%" and f.pct(0.1145) == "11.5%"
    assert f.ci(-0.0375, 0.0125) == "[-3.8, +1.3] pp"
    assert f.ci(-0.0004, 0.0) == "[+0.0, +0.0] pp"  # no "-0.0"
