#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 600) each, one after the other, seeded
# with the golden vectors. Needs a nightly toolchain and cargo-fuzz:
#   rustup toolchain install nightly && cargo install cargo-fuzz
# Usage: fuzz/run-all.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-600}"; shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(msgpack_value json_value classic cluster stream_entry session)
python3 - <<'PY'
import json, os
cases = json.load(open("../crates/wire/tests/golden/vectors.json"))["cases"]
for c in cases:
    for t in ("msgpack_value", "json_value", "classic", "cluster", "session"):
        if "hex" in c:
            os.makedirs(f"corpus/{t}", exist_ok=True)
            open(f"corpus/{t}/{c['name'].replace('/', '_')}", "wb").write(bytes.fromhex(c["hex"]))
    if "fields" in c:
        os.makedirs("corpus/stream_entry", exist_ok=True)
        raw = b"\0".join(x.encode() for pair in c["fields"] for x in pair)
        open(f"corpus/stream_entry/{c['name'].replace('/', '_')}", "wb").write(raw)
PY
failed=0
for t in "${targets[@]}"; do
  echo "== $t: ${secs}s"
  set +e
  cargo +nightly fuzz run "$t" "corpus/$t" -- -max_total_time="$secs" -rss_limit_mb=4096 2>&1 \
    | grep -E "^(#[0-9]+\s+DONE|Done|==[0-9]+== ERROR|SUMMARY|thread .* panicked|error)|stat::"
  status=${PIPESTATUS[0]}
  set -e
  echo "== $t: exit $status"
  [ "$status" -eq 0 ] || failed=1
done
exit "$failed"
