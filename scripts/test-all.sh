#!/usr/bin/env bash
# Every test: installs what is missing (scripts/setup.sh), builds once, runs the Rust, C, C#,
# Free Pascal, Java and browser tests against the simulator, then the Windows DLLs under Wine.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

if [ "${BOLINK_SKIP_SETUP:-0}" != 1 ]; then
  step "setup"
  scripts/setup.sh
fi

step "build (one build; the tests reuse it)"
cargo build --workspace --all-targets --locked

step "format check"
cargo fmt --all -- --check

step "tests: Rust, C hosts, bindings, page"
cargo test --workspace --locked

if [ -x scripts/windows.sh ]; then
  step "Windows DLLs under Wine"
  scripts/windows.sh test
fi

step "all tests passed"
