#!/usr/bin/env bash
# Installs what the tests need on a Debian machine: compilers for the host programs (C, C++, C#,
# Free Pascal, Java), valgrind, Chromium for the page test, and (through scripts/windows.sh) the
# Windows cross-compilers, Rust targets and Wine. Idempotent; needs root for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential   # gcc, g++ for the C hosts and the C++ header check
  valgrind          # the C host under valgrind
  mono-mcs mono-runtime   # the C# binding's test program
  fp-compiler       # the Free Pascal binding's test program
  default-jdk-headless    # javac and java for the Java binding
  chromium          # the simulator's page, checked in a headless browser
  curl              # scripts talking to the simulator's control API
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing packages: ${missing[*]}" >&2
    echo "setup: run as root (sudo scripts/setup.sh) to install them" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "setup: host test packages present"
fi

if [ -x scripts/windows.sh ]; then
  scripts/windows.sh setup
fi
