"""Counter rates that survive 32/64-bit wraps and agent reboots.

SNMP counters only grow, modulo 2^32 (ifInOctets) or 2^64 (ifHCInOctets). Between two samples a
smaller value means either a wrap (add the modulus) or a reboot (the agent restarted from zero:
there is no valid rate for that interval). sysUpTime tells them apart: when it went backwards the
agent restarted, whatever the counters say::

    prev = CounterSample(value=4_294_967_000, uptime=1000, at=0.0)
    cur = CounterSample(value=704, uptime=1100, at=10.0)
    counter_rate(prev, cur, bits=32)   # RateResult(rate=100.0, wrapped=True, reset=False)
"""

from __future__ import annotations

from dataclasses import dataclass

# A wrap is only believable if the implied increase is plausible; a 32-bit counter that
# "wrapped" to produce more than this fraction of the modulus was really reset.
_WRAP_PLAUSIBLE_FRACTION = 0.5


@dataclass(frozen=True)
class CounterSample:
    value: int
    uptime: int | None  # sysUpTime in centiseconds when the counter was read
    at: float  # seconds (epoch or monotonic, the same clock for both samples)


@dataclass(frozen=True)
class RateResult:
    rate: float | None  # units per second; None when no valid rate exists for the interval
    wrapped: bool = False
    reset: bool = False


def rebooted(prev_uptime: int | None, cur_uptime: int | None) -> bool:
    """True when sysUpTime went backwards: the agent restarted between the two polls.

    sysUpTime itself wraps after 497 days (2^32 centiseconds); a drop from near the top is that
    wrap, not a reboot.

    >>> rebooted(500_000, 1_200)
    True
    >>> rebooted(2**32 - 100, 50)
    False
    """
    if prev_uptime is None or cur_uptime is None:
        return False
    if cur_uptime >= prev_uptime:
        return False
    return not (prev_uptime > 2**32 - 360_000 and cur_uptime < 360_000)


def counter_rate(prev: CounterSample, cur: CounterSample, *, bits: int) -> RateResult:
    """Per-second rate between two samples of a ``bits``-wide counter.

    >>> counter_rate(CounterSample(100, 10, 0.0), CounterSample(300, 1010, 10.0), bits=64).rate
    20.0
    >>> counter_rate(CounterSample(9_000, 90_000, 0.0), CounterSample(10, 50, 10.0), bits=64)
    RateResult(rate=None, wrapped=False, reset=True)
    """
    elapsed = cur.at - prev.at
    if elapsed <= 0:
        return RateResult(rate=None)
    if rebooted(prev.uptime, cur.uptime):
        return RateResult(rate=None, reset=True)
    delta = cur.value - prev.value
    if delta >= 0:
        return RateResult(rate=delta / elapsed)
    modulus = 1 << bits
    wrapped_delta = delta + modulus
    if 0 <= wrapped_delta < modulus * _WRAP_PLAUSIBLE_FRACTION:
        return RateResult(rate=wrapped_delta / elapsed, wrapped=True)
    # A drop too large to be a wrap, with uptime not going back (e.g. counters cleared by an
    # operator): no rate for this interval.
    return RateResult(rate=None, reset=True)
