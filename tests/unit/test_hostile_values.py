"""Hypothesis strategies of hostile argument values, shared by every ``test_hostile_*`` module.

Every value is invalid *by construction* (not by asking our own validator): it is empty, too long,
carries a character outside Serviceguard's name alphabet (shell metacharacters, ``/``, white space,
control characters, non-ASCII letters), starts like an option, or is not a string at all. The one
test here proves that construction against Serviceguard's published rule, written out again as a
plain regular expression, so the strategies cannot silently drift into generating valid names.
"""

import ipaddress
import math
import os
import re
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# Serviceguard's rule (Managing Serviceguard): letters, digits, '.', '-', '_', at most 39
# characters, starting and ending with a letter or digit. Written independently of vpkg_names.
SG_RULE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,37}[A-Za-z0-9])?")
# RFC 1123 host names: dot-separated labels of letters, digits and '-' (1-63 characters, not
# starting or ending with '-'), at most 253 characters; or an IP address. Also independent of vpkg_names.
HOST_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")

ALNUM = string.ascii_letters + string.digits
FRAGMENT = st.text(alphabet=ALNUM, min_size=0, max_size=8)
NONEMPTY = st.text(alphabet=ALNUM, min_size=1, max_size=8)

# What a shell, a path or an option parser would read as syntax (never '.', '-', '_').
METACHARACTERS = list(";&|`$(){}[]<>*?!#~'\"\\ \t\n\r\x00\x1b=,:@+%^/")

NON_ASCII = st.characters(min_codepoint=0x80, max_codepoint=0x10FFFF, exclude_categories=("Cs",))


def _wrap(fragment_a, middle, fragment_b):
    return fragment_a + middle + fragment_b


_BAD_SYNTAX = (
    st.just(""),
    st.sampled_from(["..", ".", "-f", "-v", "--help", "*", "~", "$HOME", "%s%n", "\\", "\u202e"]),
    st.builds(_wrap, FRAGMENT, st.sampled_from(METACHARACTERS), FRAGMENT),
    st.builds(_wrap, FRAGMENT, st.sampled_from(["../", "/..", "/etc/passwd", "\n", "\r\n"]), FRAGMENT),
    st.builds(lambda a: "-" + a, FRAGMENT),  # -f, -v, -, ...
    st.builds(lambda a: "--" + a, FRAGMENT),
    st.builds(lambda a, p: p + a, NONEMPTY, st.sampled_from([".", "_", "-"])),  # bad first character
    st.builds(lambda a, p: a + p, NONEMPTY, st.sampled_from([".", "_", "-"])),  # bad last character
    st.builds(_wrap, FRAGMENT, NON_ASCII, FRAGMENT),  # unicode look-alikes, emoji, RTL marks
    st.builds(lambda a: f"$({a})", FRAGMENT),
    st.builds(lambda a: f"{a}`id`", FRAGMENT),
)
HOSTILE_TEXT = st.one_of(*_BAD_SYNTAX, st.text(alphabet=ALNUM, min_size=40, max_size=4000))  # or too long

WRONG_TYPES = st.one_of(
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.binary(max_size=10),
    st.lists(FRAGMENT, max_size=3),
    st.dictionaries(FRAGMENT, FRAGMENT, max_size=2),
    st.tuples(FRAGMENT),
)

# A package, node, guest or target name: never valid, None excluded (it means "not given" for
# optional names; required names get None from REQUIRED_NAME).
HOSTILE_NAME = st.one_of(HOSTILE_TEXT, WRONG_TYPES)
REQUIRED_NAME = st.one_of(HOSTILE_NAME, st.none())

# A host (``hpvmmigrate -h``): a host name may be longer than a Serviceguard name (253 characters,
# in labels of up to 63), so "too long" starts later; the rest is the same bad syntax.
HOSTILE_HOST = st.one_of(*_BAD_SYNTAX, st.text(alphabet=ALNUM, min_size=254, max_size=4000), WRONG_TYPES)

# Seconds: zero, negative, not a number, or not a number type at all.
_NUMERIC_WORDS = {"nan", "inf", "infinity"}
BAD_SECONDS = st.one_of(
    st.integers(max_value=0),
    st.floats(max_value=0.0, allow_nan=False),
    st.text(alphabet=string.ascii_letters + ";|$ -", min_size=0, max_size=12).filter(
        lambda t: t.strip().lstrip("+-").lower() not in _NUMERIC_WORDS
    ),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(FRAGMENT, st.integers(), max_size=2),
)
# Not finite, or a bool (float(True) is 1.0): a migration that never times out, or a typo.
NON_FINITE_SECONDS = st.sampled_from(
    [math.nan, math.inf, "nan", "NaN", "inf", "+inf", "Infinity", "1e999", True]
)
HOSTILE_SECONDS = st.one_of(BAD_SECONDS, NON_FINITE_SECONDS)

# A flag that must be a real bool: strings ("no" is truthy), numbers, containers.
HOSTILE_FLAG = st.one_of(
    st.text(max_size=8),
    st.integers(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(FRAGMENT, FRAGMENT, max_size=1),
)

# Examples per property: 60, or VPKG_HYPOTHESIS_EXAMPLES. The older-Salt tiers (make test-3006,
# test-3007) run 15: the properties are of our code, whose inputs do not depend on Salt's version;
# there they show that it loads and refuses the same way, which a few examples each already show.
EXAMPLES = int(os.environ.get("VPKG_HYPOTHESIS_EXAMPLES", "60"))
FAST = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)


def is_sg_name(value):
    return isinstance(value, str) and SG_RULE.fullmatch(value) is not None


@FAST
@given(HOSTILE_NAME)
def test_every_generated_name_breaks_serviceguards_rule(value):
    assert not is_sg_name(value), value


def is_host(value):
    if not isinstance(value, str):
        return False
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        pass
    return len(value) <= 253 and all(HOST_LABEL.fullmatch(label) for label in value.split("."))


@FAST
@given(HOSTILE_HOST)
def test_every_generated_host_is_neither_a_host_name_nor_an_address(value):
    assert not is_host(value), value


def test_the_host_rule_accepts_hosts():
    # The oracle above is not vacuous: it accepts what hpvmmigrate -h takes.
    assert all(map(is_host, ["xyzo2", "xyzo2.example.com", "10.0.0.2", "fe80::1", "h" * 63]))
