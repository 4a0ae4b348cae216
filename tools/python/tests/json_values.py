"""Comparing JSON values as a reader gives them, types included.

``==`` alone says ``0 == -0.0`` and ``2**64 == 1.8446744073709552e19``; spec 5.4 says
which numbers a reader gives as integers (those in [-2**63, 2**64), exactly) and which
as doubles, so these tests compare the type and, for doubles, the sign of zero too."""

import math


def differences(a, b, path="$"):
    """Where ``a`` and ``b`` differ (empty when they are the same), for messages."""
    if type(a) is not type(b):
        return [f"{path}: {a!r} ({type(a).__name__}) vs {b!r} ({type(b).__name__})"]
    if isinstance(a, dict):
        out = [f"{path}: keys {sorted(a.keys() ^ b.keys())} in one only"] if a.keys() != b.keys() else []
        for k in a.keys() & b.keys():
            out += differences(a[k], b[k], f"{path}.{k}")
        return out
    if isinstance(a, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} vs {len(b)} items"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{path}[{i}]")]
    if isinstance(a, float) and math.copysign(1.0, a) != math.copysign(1.0, b):
        return [f"{path}: {a!r} vs {b!r} (sign of zero)"]
    return [] if a == b else [f"{path}: {a!r} vs {b!r}"]
