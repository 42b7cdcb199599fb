"""JSON text byte for byte as Rust's serde_json writes it (the broker writes its reports so).

Floats are written as Rust's ryu writes them (``40.0``, ``1e16``, ``0.00001``), strings as
UTF-8 with only ``"``, ``\\`` and control characters escaped; the layout is compact, or that of
serde_json's pretty printer.
"""

from __future__ import annotations

__all__ = ["dumps", "serde_f64"]

import json
import math
import re
from collections.abc import Iterable
from typing import Any, Optional

_REPR = re.compile(r"(\d+)(?:\.(\d+))?(?:e([+-]\d+))?")


def serde_f64(value: float) -> str:
    """A finite float as serde_json writes an f64 (Rust's ryu): the shortest digits that read
    back exactly, in plain notation for magnitudes 1e-5 <= |x| < 1e16 and otherwise as
    ``1.5e16`` / ``1e-7`` (no ``+``, no zero padding); integral values end in ``.0``.

    :raises ValueError: for NaN and infinities (serde_json would write ``null``, which neither
        schema can read back).
    """
    if not math.isfinite(value):
        raise ValueError(f"cannot write {value} in a LoadReport (JSON numbers are finite)")
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    if value == 0:
        return sign + "0.0"
    # repr gives the same shortest round-trip digits as ryu; only the layout differs.
    match = _REPR.fullmatch(repr(abs(value)))
    if match is None:  # pragma: no cover - repr of a finite positive float always matches
        raise AssertionError(repr(value))
    whole, frac, exp = match.group(1), match.group(2) or "", match.group(3)
    digits = (whole + frac).lstrip("0")
    # value = 0.<digits> * 10**point; ryu's kk.
    point = len(whole) + (int(exp) if exp else 0) - (len(whole + frac) - len(digits))
    digits = digits.rstrip("0")
    length = len(digits)
    if length <= point <= 16:
        text = digits + "0" * (point - length) + ".0"
    elif 0 < point <= 16:
        text = digits[:point] + "." + digits[point:]
    elif -5 < point <= 0:
        text = "0." + "0" * -point + digits
    elif length == 1:
        text = f"{digits}e{point - 1}"
    else:
        text = f"{digits[0]}.{digits[1:]}e{point - 1}"
    return sign + text


def dumps(value: Any, *, indent: Optional[int] = None, floats: Iterable[float]) -> str:
    """``value`` (dicts, lists, str, int, float, bool, None) as serde_json writes it: compact,
    or laid out as serde_json's pretty printer with ``indent`` spaces.

    :param floats: every float in ``value``. The caller knows where they are; searching a
        report of 10,000 topics for them would cost about as much as writing it.
    :raises ValueError: for a float that is not finite.
    """
    if all(math.isfinite(x) and "e" not in repr(x) for x in floats):
        # json's C encoder writes what serde_json writes (its pretty layout included) as long
        # as no float needs an exponent (repr and ryu differ only in how they write exponents):
        # the common case, and many times faster.
        return json.dumps(
            value,
            ensure_ascii=False,
            allow_nan=False,
            indent=indent,
            separators=(",", ":") if indent is None else (",", ": "),
        )
    parts: list[str] = []
    _write_json(value, parts, indent, 0)
    return "".join(parts)


def _write_json(value: Any, out: list[str], indent: Optional[int], depth: int) -> None:
    """Appends ``value`` as serde_json would write it (compact, or pretty with ``indent``)."""
    if isinstance(value, (dict, list)):
        opening, closing = ("{", "}") if isinstance(value, dict) else ("[", "]")
        if not value:
            out.append(opening + closing)
            return
        out.append(opening)
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for i, (key, item) in enumerate(items):
            if i:
                out.append(",")
            if indent is not None:
                out.append("\n" + " " * (indent * (depth + 1)))
            if isinstance(value, dict):
                out.append(json.dumps(key, ensure_ascii=False))
                out.append(":" if indent is None else ": ")
            _write_json(item, out, indent, depth + 1)
        if indent is not None:
            out.append("\n" + " " * (indent * depth))
        out.append(closing)
    elif isinstance(value, bool) or value is None:
        out.append(json.dumps(value))
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, float):
        out.append(serde_f64(value))
    elif isinstance(value, str):
        # serde_json escapes '"', '\\' and control characters (short forms where JSON has
        # them, else \u00xx) and writes everything else as UTF-8, exactly as this does.
        out.append(json.dumps(value, ensure_ascii=False))
    else:  # pragma: no cover - LoadReport.to_dict writes only the types above
        raise TypeError(f"cannot write {type(value).__name__} as JSON")
