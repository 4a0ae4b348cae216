"""Write one file of the test catalogues, for reproducing a case by hand.

    python tests/write_case.py dataset:NAME OUT.tpk    # a case of catalog.py
    python tests/write_case.py plan:NAME OUT.tpk       # a case of plan_catalog.py
    python tests/write_case.py overlay:NAME OUT.tpk    # a case of overlay_catalog.py
    python tests/write_case.py plan:dataset D.tpk      # the dataset the plan cases cut
    python tests/write_case.py overlay:dataset D.tpk   # the dataset the overlay cases use

Valid and invalid cases alike. Overlay cases are for the contiguous view of the overlay
dataset at L = 8 (tail dropped); plan cases use L = 4.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import catalog  # noqa: E402
import overlay_catalog  # noqa: E402
import plan_catalog  # noqa: E402


def cases():
    yield "plan:dataset", plan_catalog.dataset_bytes()
    yield "overlay:dataset", overlay_catalog.dataset_bytes()
    for name, data in catalog.valid_files():
        yield "dataset:" + name, data
    for name, data, *_ in catalog.invalid_files():
        yield "dataset:" + name, data
    for name, data in plan_catalog.valid_plans():
        yield "plan:" + name, data
    for name, data, *_ in plan_catalog.invalid_plans() + plan_catalog.invalid_rows():
        yield "plan:" + name, data
    for name, data in overlay_catalog.valid_overlays():
        yield "overlay:" + name, data
    for name, data, *_ in overlay_catalog.invalid_overlays() + overlay_catalog.invalid_rows():
        yield "overlay:" + name, data


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    for name, data in cases():
        if name == argv[1]:
            Path(argv[2]).write_bytes(data)
            return 0
    print(f"no case named {argv[1]!r}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
