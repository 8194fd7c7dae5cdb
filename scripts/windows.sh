#!/usr/bin/env bash
# bolink.dll for 32-bit (x86) and 64-bit (x64) Windows, cross-built on Debian with MinGW-w64 and
# tested under Wine against bolink-sim on loopback.
#
#   scripts/windows.sh setup         Debian packages (MinGW-w64, Wine with its 32-bit half), the
#                                    Rust targets, nightly with rust-src (for the win7 targets).
#                                    Idempotent; apt-get needs root.
#   scripts/windows.sh build         release DLLs for i686- and x86_64-pc-windows-gnu (stable)
#   scripts/windows.sh check-exports export names, stdcall on x86, no runtime DLL beside bolink.dll
#   scripts/windows.sh stable        build, check-exports, Wine test of the stable DLLs
#                                    (Windows 10 or later), with Wine reporting Windows 10
#   scripts/windows.sh win7          the same for i686- and x86_64-win7-windows-gnu (nightly,
#                                    -Zbuild-std; Windows 7 or later), with Wine reporting Windows 7
#   scripts/windows.sh test          stable, then win7 (what CI runs)
#
# The Wine test runs tests/win/wintest.c (built with MinGW for each architecture) under Wine,
# against bolink-sim: x86 in a 32-bit prefix and again in a 64-bit one (WoW64), x64 in the
# 64-bit one; the prefixes live under target/wine/. Each step prints one "==>" line; the first
# failure stops the script with a non-zero status and a "FAILED:" line.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

targets=(i686-pc-windows-gnu x86_64-pc-windows-gnu)
win7_targets=(i686-win7-windows-gnu x86_64-win7-windows-gnu)

# Every DLL bolink.dll may import: all ship with Windows. Anything else (libgcc_s_dw2-1.dll,
# libwinpthread-1.dll, ...) would have to be shipped beside it, which the release must not need.
system_dlls=(kernel32 advapi32 bcrypt bcryptprimitives msvcrt ntdll userenv ws2_32 iphlpapi
  crypt32 secur32 ncrypt ole32 oleaut32 shell32 user32)

# Functions the Windows 7 builds must not import (all Windows 8 or later). The API-set DLLs
# (api-ms-win-*) and bcryptprimitives.dll are refused as a whole.
win8_functions=(ProcessPrng WaitOnAddress WakeByAddressSingle WakeByAddressAll
  GetSystemTimePreciseAsFileTime CreateFile2 SetThreadDescription GetThreadDescription
  PrefetchVirtualMemory SetDefaultDllDirectories AddDllDirectory)

step() { printf '==> %s\n' "$*"; }
fail() {
  printf 'FAILED: %s\n' "$*" >&2
  exit 1
}

# Seconds since the epoch, for the figures each long step prints.
now() { date +%s; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo "$@"
  else
    fail "root is needed for: $* (run scripts/windows.sh setup as root)"
  fi
}

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

cmd_setup() {
  local started missing=() p
  started=$(now)
  command -v apt-get >/dev/null || fail "setup needs a Debian-like system with apt-get"
  command -v rustup >/dev/null || fail "setup needs rustup (https://rustup.rs)"

  # Wine runs 32-bit programs only with its i386 half, which needs the i386 architecture.
  if ! dpkg --print-foreign-architectures | grep -qx i386; then
    step "setup: adding the i386 architecture (for wine32)"
    as_root dpkg --add-architecture i386
  fi
  for p in gcc-mingw-w64-i686 gcc-mingw-w64-x86-64 wine wine64 wine32:i386; do
    installed "$p" || missing+=("$p")
  done
  # The checks talk to the simulator with curl and read its JSON with Python.
  for p in curl python3; do
    command -v "$p" >/dev/null || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    step "setup: installing ${missing[*]}"
    as_root apt-get update -q || fail "apt-get update failed"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      "${missing[@]}" || fail "apt-get could not install: ${missing[*]}"
  else
    step "setup: Debian packages present (MinGW-w64, Wine 32 and 64-bit)"
  fi

  local wanted=("${targets[@]}") installed_targets t
  installed_targets=$(rustup target list --installed)
  for t in "${wanted[@]}"; do
    if ! grep -qx "$t" <<<"$installed_targets"; then
      step "setup: rustup target add $t"
      rustup target add "$t" || fail "the Rust target $t could not be installed (see above)"
    fi
  done
  step "setup: Rust targets present: ${wanted[*]}"

  # The win7 targets have no prebuilt standard library: nightly builds it from rust-src.
  if ! rustup toolchain list | grep -q '^nightly'; then
    step "setup: rustup toolchain install nightly"
    rustup toolchain install nightly --profile minimal --component rust-src ||
      fail "the nightly toolchain could not be installed (see above)"
  fi
  if ! rustup component list --installed --toolchain nightly | grep -q '^rust-src'; then
    step "setup: rustup component add rust-src --toolchain nightly"
    rustup component add rust-src --toolchain nightly ||
      fail "rust-src for nightly could not be installed (see above)"
  fi
  step "setup: nightly with rust-src present ($(rustc +nightly --version))"
  step "setup: done in $(($(now) - started)) s"
}

require() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || fail "$tool is missing: run scripts/windows.sh setup"
  done
}

mingw_of() {
  case "$1" in
  i686-*) echo i686-w64-mingw32 ;;
  x86_64-*) echo x86_64-w64-mingw32 ;;
  *) fail "no MinGW-w64 toolchain for $1" ;;
  esac
}

arch_of() {
  case "$1" in
  i686-*) echo x86 ;;
  *) echo x64 ;;
  esac
}

dll_of() { echo "$root/target/$1/release/bolink.dll"; }

# Release build of the library for one target; the nightly win7 targets build std themselves.
build_one() {
  local target=$1 started
  started=$(now)
  step "build: $target (release)"
  case "$target" in
  *-win7-windows-*)
    # The cc crate (ring's C code) knows no compiler for the win7 triples: name MinGW's.
    local triple=${target//-/_} mingw
    mingw=$(mingw_of "$target")
    env "CC_$triple=$mingw-gcc" "AR_$triple=$mingw-ar" \
      cargo +nightly build --release --locked -p bolink --target "$target" \
      -Zbuild-std=std,panic_unwind
    ;;
  *) cargo build --release --locked -p bolink --target "$target" ;;
  esac || fail "the build for $target failed (see above)"
  step "build: $(dll_of "$target") in $(($(now) - started)) s"
}

cmd_build() {
  require cargo i686-w64-mingw32-gcc x86_64-w64-mingw32-gcc
  local t
  for t in "$@"; do build_one "$t"; done
}

# The names a DLL exports, one a line.
dll_exports() {
  # awk reads to the end: stopping early would fail objdump's write (and, with pipefail, this).
  objdump -p "$1" | awk '/^\[Ordinal\/Name Pointer\] Table/ {on = 1; next}
    on && /^\t\[/ {sub(/^\t\[ *[0-9]+\] /, ""); print; next}
    {on = 0}'
}

# bolink.def and the MinGW import library libbolink.dll.a for one target's DLL, into `out`.
# On x86 a __stdcall export is listed as Name@N (N from the DLL's own symbol _Name@N) and the
# library is made with --kill-at: a caller's reference _Name@N binds to the undecorated export,
# as with the vendor's DLL. MSVC makes its bolink.lib from the same file.
import_lib() {
  local target=$1 out=$2 dll mingw symbols name decorated
  dll=$(dll_of "$target")
  mingw=$(mingw_of "$target")
  symbols=$(objdump -t "$dll" | awk '{print $NF}' | grep -E '^_[A-Za-z0-9_]+@[0-9]+$' || true)
  {
    echo "LIBRARY bolink.dll"
    echo "EXPORTS"
    for name in $(dll_exports "$dll"); do
      decorated=$(grep -m 1 -E "^_$name@[0-9]+$" <<<"$symbols" || true)
      decorated=${decorated#_}
      echo "    ${decorated:-$name}"
    done
  } >"$out/bolink.def"
  "$mingw-dlltool" -d "$out/bolink.def" -D bolink.dll -l "$out/libbolink.dll.a" -k ||
    fail "$mingw-dlltool could not make the import library for $dll"
}

# Names a header declares as functions (comment lines skipped).
declared() {
  grep -vE '^\s*(\*|/\*)' "$1" | grep -oE "\b$2[A-Za-z0-9_]*\(" | tr -d '(' | sort -u
}

# Bytes of arguments a compat function takes (all are pointers, 4 bytes on x86).
compat_arg_bytes() {
  local args
  args=$(grep -vE '^\s*(\*|/\*)' include/bolink_compat.h | tr '\n' ' ' |
    grep -oE "\b$1\([^)]*\)" | head -n 1 | sed -E "s/^$1\(//; s/\)$//")
  if [ "$args" = void ]; then
    echo 0
  else
    echo $((($(tr -cd , <<<"$args" | wc -c) + 1) * 4))
  fi
}

check_dll() {
  local target=$1 dll header name exports imports dll_name rva image_base n listing rets want
  dll=$(dll_of "$target")
  [ -f "$dll" ] || fail "$dll is missing: run scripts/windows.sh build"
  header=$(objdump -p "$dll") || fail "objdump cannot read $dll"

  exports=$(dll_exports "$dll")
  [ -n "$exports" ] || fail "$dll: no export table"
  if grep -E '@|^_' <<<"$exports"; then
    fail "$dll: the exports above are decorated (a leading _ or an @N suffix)"
  fi
  for name in $(declared include/bolink.h bolink_) $(declared include/bolink_compat.h \
    UploadUtilNative_); do
    grep -qx "$name" <<<"$exports" || fail "$dll: $name is not exported under that name"
  done
  step "check: $(arch_of "$target") exports $(wc -l <<<"$exports") undecorated names, every" \
    "bolink_* of bolink.h and UploadUtilNative_* of bolink_compat.h"

  # On x86 the compat functions are the vendor's __stdcall: the callee pops its arguments. The
  # compiler names such a function _Name@N; every return must be `ret $N`.
  if [ "$(arch_of "$target")" = x86 ]; then
    image_base=$((0x$(awk '/^ImageBase/ {print $2}' <<<"$header")))
    for name in $(declared include/bolink_compat.h UploadUtilNative_); do
      n=$(compat_arg_bytes "$name")
      # objdump runs on into the functions that follow: keep the first one only.
      listing=$(objdump -d --no-show-raw-insn "--disassemble=_$name@$n" "$dll" |
        awk '/>:$/ && seen++ {done = 1} !done {print}')
      grep -q "<_$name@$n>:" <<<"$listing" ||
        fail "$dll: no stdcall symbol _$name@$n: $name is not __stdcall with $n argument bytes"
      rva=$(awk -v want="$name" '
        /^Export Address Table/ {table = 1; next}
        table && /^\t\[.*Export RVA/ {gsub(/[\[\]]/, " "); rvas[$1] = $(NF - 2); next}
        /^\[Ordinal\/Name Pointer\] Table/ {names = 1; next}
        names && /^\t\[/ {gsub(/[\[\]]/, " "); if ($2 == want) print rvas[$1]; next}
        names {exit}' <<<"$header")
      [ -n "$rva" ] || fail "$dll: no export address for $name"
      grep -qiE "^0*$(printf '%x' $((image_base + 0x$rva))) <_$name@$n>:" <<<"$listing" ||
        fail "$dll: the export $name does not point at _$name@$n"
      rets=$(grep -E '\sret' <<<"$listing" | sed -E 's/.*\s(ret[a-z]*)\s*/\1 /') || true
      if [ "$n" -eq 0 ]; then
        want='^ret *$'
      else
        want="^ret +\\\$0x$(printf '%x' "$n") *$"
      fi
      if [ -z "$rets" ] || grep -qvE "$want" <<<"$rets"; then
        fail "$dll: $name does not return as __stdcall with $n bytes: $(tr '\n' ';' <<<"$rets")"
      fi
    done
    step "check: x86 UploadUtilNative_* are __stdcall (each returns with ret \$N, N = its" \
      "argument bytes)"
  fi

  # A runtime DLL not shipped with Windows would have to be shipped beside bolink.dll.
  imports=$(awk '/DLL Name:/ {print tolower($3)}' <<<"$header" | sort -u)
  for dll_name in $imports; do
    case "$dll_name" in
    api-ms-win-*.dll) continue ;;
    esac
    [[ " ${system_dlls[*]} " == *" ${dll_name%.dll} "* ]] ||
      fail "$dll imports $dll_name, which Windows does not ship (or is missing from the list" \
        "of system DLLs in scripts/windows.sh)"
  done
  step "check: $(arch_of "$target") imports only system DLLs: $(tr '\n' ' ' <<<"$imports")"

  if [[ "$target" == *-win7-windows-* ]]; then
    if grep -qiE 'DLL Name: (api-ms-win-|bcryptprimitives)' <<<"$header"; then
      fail "$dll imports a DLL Windows 7 lacks:" \
        "$(grep -iE 'DLL Name: (api-ms|bcryptprim)' <<<"$header" | tr -s '\t ' ' ')"
    fi
    for name in "${win8_functions[@]}"; do
      if grep -qE "^\s+[0-9a-f]+\s+[0-9]+\s+$name$" <<<"$header"; then
        fail "$dll imports $name, which Windows 7 lacks"
      fi
    done
    step "check: $(arch_of "$target") imports nothing of Windows 8 or later that is checked" \
      "(${win8_functions[*]}, api-ms-win-*, bcryptprimitives)"
  fi
}

cmd_check_exports() {
  require objdump awk
  local t
  for t in "$@"; do check_dll "$t"; done
}

# A Wine prefix under target/wine/, created once (wineboot takes about 15-30 s), with the
# Windows version Wine reports set to `winver`.
prepare_prefix() {
  local prefix=$1 winearch=$2 winver=$3
  export WINEPREFIX=$prefix WINEARCH=$winearch
  if [ ! -f "$prefix/system.reg" ]; then
    step "wine: creating the $winearch prefix $prefix"
    mkdir -p "$(dirname "$prefix")"
    wineboot -i >/dev/null 2>&1 || fail "wineboot could not create $prefix"
    # The registry reaches system.reg (the mark of a finished prefix) when wineserver exits.
    wineserver -w
  fi
  wine reg add 'HKCU\Software\Wine' /v Version /d "$winver" /f >/dev/null 2>&1 ||
    fail "could not set the Windows version of $prefix to $winver"
}

sim_pid=
stop_sim() {
  if [ -n "$sim_pid" ]; then
    kill "$sim_pid" 2>/dev/null || true
    wait "$sim_pid" 2>/dev/null || true
    sim_pid=
  fi
}
trap stop_sim EXIT

wine_test() {
  local target=$1 arch mingw dir started winearch
  started=$(now)
  arch=$(arch_of "$target")
  mingw=$(mingw_of "$target")
  dir=$root/target/wine/$target

  step "wine test: $target: building wintest.exe"
  rm -rf "$dir"
  mkdir -p "$dir"
  # The DLL as the release ships it (scripts/package.sh takes it from here): without its
  # symbols and debug information, which nothing at run time reads.
  "$mingw-strip" --strip-unneeded -o "$dir/bolink.dll" "$(dll_of "$target")" ||
    fail "$mingw-strip could not strip $(dll_of "$target")"

  # Linked as an integrator links: the headers and the import library the release ships.
  import_lib "$target" "$dir"
  "$mingw-gcc" -std=c11 -O2 -Wall -Wextra -Werror -Iinclude -o "$dir/wintest.exe" \
    tests/win/wintest.c -L"$dir" -lbolink || fail "$mingw-gcc could not build tests/win/wintest.c"

  # Wine 8 has no bcryptprimitives.dll, whose ProcessPrng the standard library of the Windows 10
  # builds imports: a stand-in beside the test program only. The Windows 7 builds do not import
  # it, so they are tested without it.
  if [[ "$target" != *-win7-windows-* ]]; then
    # The .def names ProcessPrng undecorated; on x86 ld maps it to ProcessPrng@8.
    "$mingw-gcc" -O2 -Wall -Wextra -Werror -shared -o "$dir/bcryptprimitives.dll" \
      tests/win/bcryptprimitives.c tests/win/bcryptprimitives.def -ladvapi32 \
      -Wl,--enable-stdcall-fixup || fail "$mingw-gcc could not build the bcryptprimitives stand-in"
  fi

  # x86 runs on 32-bit Windows and, as most 32-bit billing programs do, on 64-bit Windows.
  if [ "$arch" = x86 ]; then
    for winearch in win32 win64; do wine_run "$target" "$winearch"; done
  else
    wine_run "$target" win64
  fi
  step "wine test: $target passed in $(($(now) - started)) s"
}

# One run of the built wintest.exe against a fresh simulator, in a `winearch` prefix.
wine_run() {
  local target=$1 winearch=$2 arch dir run order floor winver reported ports cloud http status
  arch=$(arch_of "$target")
  dir=$root/target/wine/$target
  run=$dir/$winearch
  if [[ "$target" == *-win7-windows-* ]]; then
    floor="Windows 7" winver=win7 reported="Windows 6.1 "
  else
    floor="Windows 10" winver=win10 reported="Windows 10.0 "
  fi
  step "wine test: $target in a $winearch prefix set to $winver"
  mkdir -p "$run/data"
  prepare_prefix "$root/target/wine/prefix-$winearch" "$winearch" "$winver"

  [ -x target/debug/bolink-sim ] || fail "target/debug/bolink-sim is missing"
  ports=$run/ports
  target/debug/bolink-sim --cloud-port 0 --bolink-port 0 --http-port 0 --auto-query-price \
    --ports-file "$ports" >"$run/sim.log" 2>&1 &
  sim_pid=$!
  for _ in $(seq 100); do
    [ -s "$ports" ] && grep -q '^http=' "$ports" && break
    kill -0 "$sim_pid" 2>/dev/null || fail "bolink-sim stopped: $(cat "$run/sim.log")"
    sleep 0.1
  done
  cloud=$(sed -n 's/^cloud=//p' "$ports")
  http=$(sed -n 's/^http=//p' "$ports")
  [ -n "$cloud" ] && [ -n "$http" ] || fail "bolink-sim wrote no ports to $ports"

  order=win_${arch}_${winearch}_$winver
  # With pipefail the pipeline's status is the program's.
  status=0
  (cd "$dir" && timeout 180 wine wintest.exe "$cloud" "$http" "$order" "Z:$run/data" "$floor") \
    2>&1 | tr -d '\r' | tee "$run/wintest.log" | sed 's/^/    /' || status=$?
  if [ "$status" -ne 0 ]; then
    wineserver -k 2>/dev/null || true
    case "$status" in
    53) fail "wintest.exe ($arch) could not start: a DLL or an import is missing (Wine's" \
      "status 53); run with WINEDEBUG=+loaddll to see which" ;;
    124) fail "wintest.exe ($arch) did not finish within 180 s" ;;
    *) fail "wintest.exe ($arch) failed with status $status" ;;
    esac
  fi
  grep -qx PASS "$run/wintest.log" || fail "wintest.exe ($arch) exited 0 without PASS"
  grep -q "running on $reported" "$run/wintest.log" ||
    fail "Wine did not report $reported(set with: wine reg add 'HKCU\\Software\\Wine' /v Version)"
  check_sim "$http" "$order"
  stop_sim
}

# What the simulator saw: the reply with state 1, and the login's local_id with the MAC that
# GetAdaptersInfo gave (Wine lists the Linux adapters).
check_sim() {
  local http=$1 order=$2 macs
  macs=$(cat /sys/class/net/*/address 2>/dev/null | tr -d ':' | grep -vx '000000000000' || true)
  curl -fsS "http://127.0.0.1:$http/api/received" | python3 -c '
import json, sys
order, macs = sys.argv[1], sys.argv[2].split()
records = json.load(sys.stdin)
replies = [r for r in records if r["service_name"] == "query_price"
           and r["data"].get("order_id") == order and r["data"].get("state") == 1]
if not replies:
    sys.exit("the simulator received no query_price reply with state 1 for " + order)
logins = [r["data"].get("local_id", "") for r in records if r["service_name"] == "login"]
if not logins:
    sys.exit("the simulator received no login")
mac = logins[0].split("_")[0]
expected = macs if macs else ["000000000000"]
if mac not in expected:
    sys.exit("the login local_id %r does not start with an adapter MAC (%s)"
             % (logins[0], ", ".join(expected)))
print("    the simulator received: the reply to %s (state 1); login local_id %s"
      % (replies[0]["data"].get("query_order_no"), logins[0]))
' "$order" "$macs" || fail "the simulator's records do not show what wintest.exe did"
}

cmd_test() {
  require cargo curl python3 wine wineboot wineserver
  step "build: bolink-sim (debug, runs on this machine)"
  cargo build --locked -p bolink-sim || fail "bolink-sim does not build"
  local t
  for t in "$@"; do wine_test "$t"; done
}

export WINEDEBUG=${WINEDEBUG:--all}
unset DISPLAY WAYLAND_DISPLAY

# Build, check and run one flavour's two DLLs.
flavour() {
  local what=$1 started
  shift
  started=$(now)
  cmd_build "$@"
  cmd_check_exports "$@"
  cmd_test "$@"
  step "windows: the $what DLLs (x86, x64) passed in $(($(now) - started)) s"
}

win7_flavour() {
  rustup component list --installed --toolchain nightly 2>/dev/null | grep -q '^rust-src' ||
    fail "nightly with rust-src is missing: run scripts/windows.sh setup"
  flavour "Windows 7" "${win7_targets[@]}"
}

case "${1:-}" in
setup) cmd_setup ;;
build) cmd_build "${targets[@]}" ;;
check-exports) cmd_check_exports "${targets[@]}" ;;
stable) flavour "Windows 10" "${targets[@]}" ;;
win7) win7_flavour ;;
test)
  flavour "Windows 10" "${targets[@]}"
  win7_flavour
  ;;
*)
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
  exit 2
  ;;
esac
