#!/usr/bin/env bash
# The project's test command (README "Run the tests"): installs what is missing on a
# fresh Debian machine, then runs every test.
#   - redis-server / redis-cli (Debian package redis-server): the tests start their own
#     servers on free loopback ports, never 6379;
#   - Node.js and npm (Debian packages nodejs, npm) and the pinned npm packages of e2e/;
#   - checks the golden vectors against the real Node packages, then runs cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_updated=
need_apt() {
  [ -n "$apt_updated" ] || { as_root apt-get update -qq; apt_updated=1; }
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

command -v redis-server >/dev/null && command -v redis-cli >/dev/null || need_apt redis-server
command -v node >/dev/null && command -v npm >/dev/null || need_apt nodejs npm
command -v cargo >/dev/null || { echo "cargo not found: install Rust from https://rustup.rs" >&2; exit 1; }
# Headless Chromium for the demo's browser test (playwright-core drives Debian's build).
[ -x /usr/bin/chromium ] || need_apt chromium

# The pinned npm packages (socket.io, the Redis adapters, the emitter, notepack, ...).
if [ ! -d e2e/node_modules ] || [ e2e/package-lock.json -nt e2e/node_modules/.package-lock.json ]; then
  npm ci --prefix e2e --no-audit --no-fund --loglevel=error
fi

echo "== golden vectors: regenerate from the Node packages and compare"
npm --prefix e2e run --silent golden:check

echo "== cargo test"
cargo test --workspace --locked

echo "== interop tests with real Node servers and clients (e2e/)"
cargo build --release --locked -p sio-redis-peer-node -p cluster-chat -p sio-redis-emitter
npm --prefix e2e test
