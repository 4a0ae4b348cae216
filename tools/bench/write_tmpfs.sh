#!/usr/bin/env bash
# The writer against numpy's tofile with the disk out of the picture: both write the
# side-by-side corpus (tools/bench/compare.sh must have generated it) into tmpfs
# (/dev/shm), 7 runs each, medians printed. Usage: bash tools/bench/write_tmpfs.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
corpus="${TOKPACK_COMPARE_DIR:-target/bench-compare}/corpus"
out=/dev/shm/tokpack-write-bench
mkdir -p "$out"
trap 'rm -rf "$out"' EXIT
cargo bench --quiet --bench compare -- write --bin "$corpus/tokens.bin" \
    --offsets "$corpus/offsets.npy" --out "$out/w.tpk" --repeats 7 2>/dev/null |
python3 -c '
import json, sys
d = json.load(sys.stdin)
print("tokpack Writer (documents, range check, CRC): median %.4f s  runs %s" % (d["tokpack_writer_s"], [round(x, 3) for x in d["tokpack_writer_all_s"]]))
print("std::fs::write of the same bytes:              median %.4f s" % d["fs_write_s"])'
python3 - "$corpus/tokens.bin" "$out/t.bin" <<'PY'
import os, sys, time
import numpy as np
tokens = np.fromfile(sys.argv[1], dtype=np.uint32)
runs = []
for _ in range(7):
    if os.path.exists(sys.argv[2]):
        os.unlink(sys.argv[2])
    os.sync()
    t = time.perf_counter()
    tokens.tofile(sys.argv[2])
    runs.append(time.perf_counter() - t)
print("numpy tofile:                                  median %.4f s  runs %s" % (float(np.median(runs)), [round(x, 3) for x in runs]))
PY
