#!/usr/bin/env bash
# Installs nncl into a temporary prefix and builds the X-versus-O sample
# against it three ways: pkg-config, find_package with the shared
# library, and find_package with the static one; then runs each.
# usage: test_install.sh BUILD_DIR SOURCE_DIR [EXTRA_CFLAGS]
set -euo pipefail
build=$1 src=$2 flags=${3:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

cmake --install "$build" --prefix "$prefix" > "$work/install.log"
for f in include/nncl.h lib/libnncl.a lib/pkgconfig/nncl.pc lib/cmake/nncl/nnclConfig.cmake; do
  [ -f "$prefix/$f" ] || { echo "missing after install: $f"; exit 1; }
done
ls "$prefix"/lib/libnncl.so* > /dev/null

sample=$src/samples/xo.c
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
# shellcheck disable=SC2046,SC2086
cc -std=c11 -Wall -Wextra -Werror $flags "$sample" -o "$work/with_pkgconfig" \
  $(pkg-config --cflags --libs nncl) -Wl,-rpath,"$prefix/lib"

cmake -S "$src/tests/install" -B "$work/consumer" -DCMAKE_PREFIX_PATH="$prefix" \
  -DSAMPLE="$sample" -DCMAKE_C_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags" > "$work/consumer.log"
cmake --build "$work/consumer" > "$work/build.log"

for exe in "$work/with_pkgconfig" "$work/consumer/consumer_shared" "$work/consumer/consumer_static"; do
  "$exe" > "$work/run.log" || { cat "$work/run.log"; exit 1; }
  grep -q "unseen images right: 64 of 64" "$work/run.log" || { echo "$exe: unexpected output"; cat "$work/run.log"; exit 1; }
  echo "ok: $(basename "$exe")"
done
