#!/usr/bin/env bash
# Release archives, one per platform, into dist/:
#
#   bolink-VERSION-linux-x86_64.tar.gz   lib/libbolink.so
#   bolink-VERSION-windows-x86.zip       bolink.dll (32-bit), lib/bolink.def, lib/libbolink.dll.a
#   bolink-VERSION-windows-x64.zip       the same, 64-bit
#
# each with include/, bindings/, a short README.md and LICENSE, and dist/SHA256SUMS.
#
#   scripts/package.sh [--stable] [linux-x86_64] [windows-x86] [windows-x64]
#
# No platform named: all three. The Windows DLLs are the ones scripts/windows.sh has just built,
# checked and run under Wine: by default the Windows 7 builds (nightly, *-win7-windows-gnu);
# with --stable the stable-toolchain builds (*-pc-windows-gnu), which need Windows 10.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

step() { printf '==> %s\n' "$*"; }
fail() {
  printf 'FAILED: %s\n' "$*" >&2
  exit 1
}

stable=0
platforms=()
for arg in "$@"; do
  case "$arg" in
  --stable) stable=1 ;;
  linux-x86_64 | windows-x86 | windows-x64) platforms+=("$arg") ;;
  *) fail "unknown argument $arg (platforms: linux-x86_64 windows-x86 windows-x64; --stable)" ;;
  esac
done
[ ${#platforms[@]} -gt 0 ] || platforms=(linux-x86_64 windows-x86 windows-x64)

version=$(cargo pkgid -p bolink | sed 's/.*[#@]//')
[ -n "$version" ] || fail "cannot read bolink's version from Cargo.toml"
dist=$root/dist
stage_root=$root/target/package
mkdir -p "$dist"
rm -rf "$stage_root"

if [ "$stable" = 1 ]; then
  windows_targets=(i686-pc-windows-gnu x86_64-pc-windows-gnu)
  windows_command=stable
  windows_floor="Windows 10 or Windows Server 2016, or later"
else
  windows_targets=(i686-win7-windows-gnu x86_64-win7-windows-gnu)
  windows_command=win7
  windows_floor="Windows 7 SP1 or Windows Server 2008 R2 SP1, or later (Windows 8, 8.1, 10, 11)"
fi

# What every archive holds besides the library: the headers, the bindings' sources (tracked or
# new, never build output), the licence.
common_files() {
  local stage=$1 file
  mkdir -p "$stage/include"
  cp include/bolink.h include/bolink_compat.h "$stage/include/"
  git ls-files --cached --others --exclude-standard bindings | while read -r file; do
    mkdir -p "$stage/$(dirname "$file")"
    cp "$file" "$stage/$file"
  done
  [ -d "$stage/bindings" ] || fail "bindings/ is empty"
  cp LICENSE "$stage/LICENSE"
}

# dist/NAME.zip from a staged directory, with zip or, lacking it, Python's zipfile.
make_zip() {
  local name=$1
  rm -f "$dist/$name.zip"
  if command -v zip >/dev/null; then
    (cd "$stage_root" && zip -q -r -X "$dist/$name.zip" "$name")
  else
    (cd "$stage_root" && python3 -m zipfile -c "$dist/$name.zip" "$name")
  fi || fail "could not write $dist/$name.zip"
}

package_linux() {
  local name=bolink-$version-linux-x86_64 stage glibc
  stage=$stage_root/$name
  step "package: $name: release build"
  cargo build --release --locked -p bolink || fail "the release build failed"
  mkdir -p "$stage/lib"
  strip --strip-unneeded -o "$stage/lib/libbolink.so" target/release/libbolink.so ||
    fail "could not strip target/release/libbolink.so"
  glibc=$(objdump -T "$stage/lib/libbolink.so" | grep -oE 'GLIBC_[0-9.]+' | sort -uV | tail -n 1)
  common_files "$stage"
  readme_linux "${glibc#GLIBC_}" >"$stage/README.md"
  tar -C "$stage_root" -czf "$dist/$name.tar.gz" --owner=0 --group=0 "$name" ||
    fail "could not write $dist/$name.tar.gz"
  step "package: dist/$name.tar.gz ($(du -h "$dist/$name.tar.gz" | cut -f1))"
}

package_windows() {
  local arch=$1 target=$2 name stage tested
  name=bolink-$version-windows-$arch
  stage=$stage_root/$name
  tested=$root/target/wine/$target
  for file in bolink.dll bolink.def libbolink.dll.a; do
    [ -f "$tested/$file" ] || fail "$tested/$file is missing: the Wine test did not run"
  done
  mkdir -p "$stage/lib"
  cp "$tested/bolink.dll" "$stage/"
  cp "$tested/bolink.def" "$tested/libbolink.dll.a" "$stage/lib/"
  common_files "$stage"
  readme_windows "$arch" "$target" >"$stage/README.md"
  make_zip "$name"
  step "package: dist/$name.zip ($(du -h "$dist/$name.zip" | cut -f1))"
}

readme_linux() {
  cat <<EOF
# bolink $version for Linux x86_64

A drop-in replacement for the Bolink (泊链 / 停车云) parking-cloud SDK, with a C ABI.
Runs on x86_64 Linux with glibc $1 or later.

| file | what it is |
| --- | --- |
| \`lib/libbolink.so\` | the library: the \`bolink_*\` API, the vendor's \`UploadUtilNative_*\` functions and the JNI functions of the Java binding |
| \`include/bolink.h\` | the \`bolink_*\` API, with the error codes |
| \`include/bolink_compat.h\` | the vendor's \`UploadUtilNative_*\` interface, for programs written for its SDK |
| \`bindings/\` | C# (\`csharp/\`), Delphi and Free Pascal (\`delphi/\`), Java (\`java/\`), each with its README |
| \`LICENSE\` | MIT or Apache-2.0 |

Build a C program with \`cc app.c -Iinclude -Llib -lbolink\` and run it with \`lib/\` on
\`LD_LIBRARY_PATH\` (or copy \`libbolink.so\` where the loader looks). The library needs nothing
but the C library. \`bolink_version()\` names the version and the build target.
EOF
}

readme_windows() {
  local arch=$1 target=$2 bits machine
  if [ "$arch" = x86 ]; then bits=32 machine=x86; else bits=64 machine=x64; fi
  cat <<EOF
# bolink $version for Windows ($arch, $bits-bit)

A drop-in replacement for the Bolink (泊链 / 停车云) parking-cloud SDK, with a C ABI, for
$bits-bit programs$([ "$arch" = x86 ] && echo " (on 32-bit and on 64-bit Windows)").
Runs on $windows_floor.

| file | what it is |
| --- | --- |
| \`bolink.dll\` | the library: the \`bolink_*\` API (cdecl), the vendor's \`UploadUtilNative_*\` functions (\`__stdcall\` on x86, undecorated names, as in \`SDK32.dll\`) and the JNI functions of the Java binding |
| \`include/bolink.h\` | the \`bolink_*\` API, with the error codes |
| \`include/bolink_compat.h\` | the vendor's \`UploadUtilNative_*\` interface, for programs written for its SDK |
| \`lib/libbolink.dll.a\` | import library for MinGW: \`gcc app.c -Iinclude -Llib -lbolink\` |
| \`lib/bolink.def\` | the exports, for an MSVC import library: \`lib /def:lib\\bolink.def /machine:$machine /out:bolink.lib\` |
| \`bindings/\` | C# (\`csharp/\`), Delphi and Free Pascal (\`delphi/\`), Java (\`java/\`), each with its README |
| \`LICENSE\` | MIT or Apache-2.0 |

Put \`bolink.dll\` beside the program's .exe. Nothing else needs to be installed or shipped: the
DLL uses only DLLs that come with Windows. \`bolink_version()\` names the build and the Windows
versions it supports: "bolink $version ($target; ...)".

This DLL was built from the same source on Linux with MinGW-w64 and, before it was packaged,
ran the test program tests/win/wintest.c under Wine (init, an entry, a 150 KB image, a price
query answered from the callback, 1 000 calls of a compat function).
EOF
}

for platform in "${platforms[@]}"; do
  case "$platform" in
  windows-*)
    step "package: scripts/windows.sh $windows_command (build, check, Wine test)"
    scripts/windows.sh "$windows_command" || fail "scripts/windows.sh $windows_command failed"
    break
    ;;
  esac
done

for platform in "${platforms[@]}"; do
  case "$platform" in
  linux-x86_64) package_linux ;;
  windows-x86) package_windows x86 "${windows_targets[0]}" ;;
  windows-x64) package_windows x64 "${windows_targets[1]}" ;;
  esac
done

shopt -s nullglob
archives=("$dist"/bolink-"$version"-*.tar.gz "$dist"/bolink-"$version"-*.zip)
(cd "$dist" && sha256sum -- "${archives[@]##*/}" >SHA256SUMS) || fail "could not write SHA256SUMS"
step "package: done: ${archives[*]#"$root"/} and dist/SHA256SUMS"
