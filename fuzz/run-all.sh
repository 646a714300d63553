#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 600) each, one after the other, seeded
# with the golden vectors (resp: with RESP2/RESP3 frames). Exits non-zero when a target
# fails (a panic, a crash, a leak or out of memory). Needs a nightly toolchain and cargo-fuzz:
#   rustup toolchain install nightly && cargo install cargo-fuzz
# Usage: [FUZZ_SANITIZER=address|none] fuzz/run-all.sh [SECONDS] [TARGET...]
# FUZZ_SANITIZER=none (what CI uses) builds without AddressSanitizer: half the build time
# and about 4x the runs/s (the crates fuzzed forbid unsafe code; panics and overflow checks
# still fail a target). Each sanitizer builds in its own target dir, so they do not
# rebuild each other.
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-600}"; shift || true
sanitizer="${FUZZ_SANITIZER:-address}"
target_dir="${CARGO_TARGET_DIR:-target}/$sanitizer"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(msgpack_value json_value classic cluster stream_entry session resp)
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
# resp: RESP2 and RESP3 frames as Redis sends them (spec examples), and command
# arguments split at NUL bytes (the target encodes those as a command too).
resp = {
    "message": b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nhello\r\n",
    "push_message": b">3\r\n$7\r\nmessage\r\n$11\r\nsocket.io#/\r\n$4\r\n\x93\xa1x\x01\r\n",
    "pmessage": b"*4\r\n$8\r\npmessage\r\n$3\r\np:*\r\n$3\r\np:x\r\n$0\r\n\r\n",
    "push_pmessage": b">4\r\n$8\r\npmessage\r\n$1\r\n*\r\n$1\r\nc\r\n$3\r\n\r\n\x00\r\n",
    "smessage": b">3\r\n$8\r\nsmessage\r\n$1\r\ns\r\n$2\r\n\x00\xff\r\n",
    "message_then_reply": b"*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$1\r\nb\r\n:1\r\n",
    "message_partial": b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$100\r\nabc",
    "subscribe": b"*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n",
    "push_psubscribe": b">3\r\n$10\r\npsubscribe\r\n$1\r\n*\r\n:1\r\n",
    "pong": b"*2\r\n$4\r\npong\r\n$0\r\n\r\n",
    "simple": b"+PONG\r\n",
    "bulk": b"$5\r\nhe\r\no\r\n",
    "bulk_empty": b"$0\r\n\r\n",
    "bulk_null": b"$-1\r\n",
    "array_null": b"*-1\r\n",
    "array_empty": b"*0\r\n",
    "nested": b"*2\r\n*3\r\n:1\r\n$5\r\nhello\r\n,2.5\r\n*1\r\n*1\r\n$-1\r\n",
    "map": b"%2\r\n+first\r\n:1\r\n+second\r\n*2\r\n:2\r\n:3\r\n",
    "set": b"~3\r\n+a\r\n#t\r\n#f\r\n",
    "attribute": b"|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.1923\r\n$1\r\nb\r\n,0.0012\r\n*2\r\n:2039123\r\n:9543892\r\n",
    "error": b"-ERR unknown command 'foo'\r\n",
    "blob_error": b"!21\r\nSYNTAX invalid syntax\r\n",
    "integer": b":-1000\r\n",
    "integer_max": b":9223372036854775807\r\n",
    "big_number": b"(3492890328409238509324850943850943825024385\r\n",
    "double": b",-inf\r\n",
    "verbatim": b"=15\r\ntxt:Some string\r\n",
    "null": b"_\r\n",
    "args_message": b"message\0ch\0payload",
    "args_pmessage": b"pmessage\0p*\0px\0\0",
    "args_smessage": b"smessage\0s\0\xff\xfe",
}
os.makedirs("corpus/resp", exist_ok=True)
for name, raw in resp.items():
    open(f"corpus/resp/{name}", "wb").write(raw)
PY
failed=0
for t in "${targets[@]}"; do
  echo "== $t: ${secs}s"
  set +e
  # -timeout: an input running 30 s is a hang (libFuzzer's default waits 20 min).
  cargo +nightly fuzz run -s "$sanitizer" --target-dir "$target_dir" "$t" "corpus/$t" -- \
    -max_total_time="$secs" -timeout=30 -rss_limit_mb=4096 2>&1 \
    | grep -E -A1 --no-group-separator \
        "^(#[0-9]+\s+DONE|Done|==[0-9]+== ERROR|SUMMARY|thread .* panicked|error)|stat::|Test unit written"
  status=${PIPESTATUS[0]}
  set -e
  echo "== $t: exit $status"
  [ "$status" -eq 0 ] || failed=1
done
exit "$failed"
