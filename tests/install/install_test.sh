#!/usr/bin/env bash
# The installed form and the README's examples, checked the way a user meets
# them. Run by `meson test` (tests/install/meson.build):
#
#   install_test.sh installed  BUILD_DIR SOURCE_DIR
#     `meson install --destdir` of BUILD_DIR into a temporary stage; then,
#     with only `pkg-config --cflags --libs weft` (PKG_CONFIG_PATH at the
#     staged weft.pc, PKG_CONFIG_SYSROOT_DIR at the stage), compile and run
#     tests/install/consumer.cpp and every C++ example of README.md, and
#     compile one file including every installed public header.
#
#   install_test.sh subproject BUILD_DIR SOURCE_DIR
#     A fresh project made of README.md's meson.build and example, with
#     SOURCE_DIR as subprojects/weft: configure, build, run.
#
# README.md marks the blocks a test uses with a line
#   <!-- weft-test: FILE -->
# right before the fenced block; the block is written to FILE. README examples
# are therefore code that this test compiles, and an edit that breaks one
# fails here.
#
# Environment (set by meson.build): WEFT_CXX the C++ compiler command,
# WEFT_SANITIZE the build's b_sanitize, WEFT_MESON the meson command.
set -euo pipefail

mode=${1:?mode: installed or subproject}
build=$(cd "${2:?build dir}" && pwd)
src=$(cd "${3:?source dir}" && pwd)
read -r -a cxx <<<"${WEFT_CXX:-c++}"
sanitize=${WEFT_SANITIZE:-none}
read -r -a meson <<<"${WEFT_MESON:-meson}"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/weft-install-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

say() { printf 'install test: %s\n' "$*"; }
fail() {
  printf 'install test: FAILED: %s\n' "$*" >&2
  exit 1
}

# Flags a user's program needs to link an instrumented libweft.
san_flags=()
if [[ -n $sanitize && $sanitize != none ]]; then
  san_flags=("-fsanitize=$sanitize" -fno-omit-frame-pointer)
fi

# Writes every README block marked `<!-- weft-test: FILE -->` to DIR/FILE and
# prints the file names.
extract_readme_blocks() {
  local dir=$1
  awk -v dir="$dir" '
    function bad(msg) { print "README.md:" NR ": " msg > "/dev/stderr"; failed = 1; exit 1 }
    match($0, /<!-- weft-test: [A-Za-z0-9_.+-]+ -->/) {
      if (name != "") bad("marker without a fenced block before it")
      name = substr($0, RSTART + 16, RLENGTH - 20)
      if (seen[name]++) bad("two blocks named " name)
      next
    }
    name != "" && !inside {
      if ($0 ~ /^```/) { inside = 1; out = dir "/" name; printf "" > out; next }
      if ($0 !~ /^[[:space:]]*$/) bad("text between the marker for " name " and its block")
      next
    }
    inside && /^```[[:space:]]*$/ { close(out); print name; inside = 0; name = ""; next }
    inside { print > out }
    END {
      if (failed) exit 1
      if (inside || name != "") { print "README.md: unterminated block " name > "/dev/stderr"; exit 1 }
    }
  ' "$src/README.md"
}

run_with_timeout() {
  local what=$1
  shift
  local rc=0
  timeout 120 "$@" || rc=$?
  if ((rc == 124)); then fail "$what did not finish within 120 s"; fi
  if ((rc != 0)); then fail "$what exited with status $rc"; fi
}

installed() {
  local stage=$tmp/stage
  # `meson test` builds only what the tests need, so installed targets that no
  # test uses (weft-trace, say) may not be built yet: build exactly those
  # outputs (a no-op after a full build), never the whole tree, since other
  # tests may be running from it.
  local -a outputs
  mapfile -t outputs < <("${meson[@]}" introspect "$build" --targets | python3 -c '
import json, os, sys
for t in json.load(sys.stdin):
    if t.get("installed"):
        for f in t["filename"]:
            print(os.path.relpath(f, sys.argv[1]))' "$build") || fail "meson introspect --targets"
  if ((${#outputs[@]})); then
    ninja -C "$build" "${outputs[@]}" >"$tmp/ninja.log" 2>&1 < /dev/null ||
      { tail -n 60 "$tmp/ninja.log"; fail "building the installed targets"; }
  fi
  say "meson install --destdir $stage"
  "${meson[@]}" install -C "$build" --no-rebuild --quiet --destdir "$stage" >"$tmp/install.log" 2>&1 ||
    { cat "$tmp/install.log"; fail "meson install"; }

  local pcs
  mapfile -t pcs < <(find "$stage" -name weft.pc)
  ((${#pcs[@]} == 1)) || fail "expected one weft.pc in the stage, found ${#pcs[@]}"
  local pc=${pcs[0]}
  say "staged ${pc#"$stage"}"

  # The headers live under <prefix>/include/weft/, laid out like the source
  # tree, so that an installed user writes the same #include lines.
  local inc
  inc=$(find "$stage" -type d -path '*/include/weft' | head -n 1)
  [[ -n $inc ]] || fail "no include/weft directory in the stage"
  [[ -f $inc/runtime/runtime.hpp ]] || fail "include/weft/runtime/runtime.hpp not installed"
  [[ -f $inc/sync/sync.hpp ]] || fail "include/weft/sync/sync.hpp not installed"
  local stray
  stray=$(find "$stage" -name '*.hpp' ! -path "$inc/*" | head -n 3)
  [[ -z $stray ]] || fail "headers installed outside include/weft: $stray"

  export PKG_CONFIG_PATH=${pc%/*}
  export PKG_CONFIG_SYSROOT_DIR=$stage
  local cflags libs
  cflags=$(pkg-config --cflags weft) || fail "pkg-config --cflags weft"
  libs=$(pkg-config --libs weft) || fail "pkg-config --libs weft"
  say "pkg-config --cflags: $cflags"
  say "pkg-config --libs:   $libs"
  [[ " $cflags " == *" -I$inc "* ]] || fail "Cflags lack -I$inc (the staged include/weft)"
  [[ "$cflags $libs" != *"$src"* && "$cflags $libs" != *"$build"* ]] ||
    fail "pkg-config points into the source or build tree"

  local -a flags
  read -r -a flags <<<"$cflags"
  local -a lflags
  read -r -a lflags <<<"$libs"
  # Compile from inside the temporary directory, so nothing but the flags can
  # supply a header.
  cd "$tmp"
  compile() {  # compile OUT SOURCE...
    local out=$1
    shift
    "${cxx[@]}" -std=c++20 -O1 -Wall -Wextra -Werror "${san_flags[@]}" "${flags[@]}" "$@" \
      "${lflags[@]}" -o "$out" 2>"$tmp/cc.log" || { cat "$tmp/cc.log"; fail "compiling $*"; }
  }

  say "compiling every installed public header in one file"
  {
    while IFS= read -r h; do printf '#include <%s>\n' "${h#"$inc/"}"; done \
      < <(find "$inc" -name '*.hpp' ! -path '*/detail/*' | sort)
    printf 'int main() { return 0; }\n'
  } >"$tmp/all_headers.cpp"
  compile "$tmp/all_headers" "$tmp/all_headers.cpp"

  say "consumer.cpp"
  cp "$src/tests/install/consumer.cpp" "$tmp/consumer.cpp"
  compile "$tmp/consumer" "$tmp/consumer.cpp"
  run_with_timeout consumer "$tmp/consumer"

  local -a names
  mkdir "$tmp/readme"
  mapfile -t names < <(extract_readme_blocks "$tmp/readme") || fail "reading README.md"
  local n=0 name
  for name in "${names[@]}"; do
    [[ $name == *.cpp ]] || continue
    say "README.md example $name"
    compile "$tmp/readme/${name%.cpp}" "$tmp/readme/$name"
    run_with_timeout "README example $name" "$tmp/readme/${name%.cpp}"
    n=$((n + 1))
  done
  ((n > 0)) || fail "README.md has no C++ block marked <!-- weft-test: NAME.cpp -->"
  say "ok: installed headers, weft.pc, consumer and $n README example(s)"
}

subproject() {
  local proj=$tmp/proj
  mkdir -p "$proj/subprojects"
  mapfile -t names < <(extract_readme_blocks "$proj") || fail "reading README.md"
  [[ -f $proj/meson.build ]] || fail "README.md has no block marked <!-- weft-test: meson.build -->"
  # The source tree itself serves as the subproject (read only: every output
  # goes to the build directory below).
  ln -s "$src" "$proj/subprojects/weft"
  local target
  target=$(sed -n "s/^[[:space:]]*executable('\([^']*\)'.*/\1/p" "$proj/meson.build" | head -n 1)
  [[ -n $target ]] || fail "README.md's meson.build declares no executable"

  say "meson setup (weft as a subproject, fallback forced)"
  "${meson[@]}" setup "$proj/build" "$proj" --force-fallback-for=weft >"$tmp/setup.log" 2>&1 ||
    { cat "$tmp/setup.log"; fail "meson setup of the README project"; }
  say "building $target"
  ninja -C "$proj/build" -j2 "$target" >"$tmp/build.log" 2>&1 ||
    { tail -n 60 "$tmp/build.log"; fail "building the README project"; }
  run_with_timeout "README project's $target" "$proj/build/$target"
  say "ok: README.md's meson.build builds and runs with weft as a subproject"
}

case $mode in
  installed) installed ;;
  subproject) subproject ;;
  *) fail "unknown mode $mode" ;;
esac
