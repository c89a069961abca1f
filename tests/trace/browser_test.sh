#!/usr/bin/env bash
# The HTML report in a real browser: headless Chromium loads reports of a
# small synthetic trace and of a big one (~200k polls), and we check
#   - the DOM after the script ran: lanes, tables, the long poll, the
#     warnings, the script's data-rendered marker, no script error;
#   - a screenshot: it exists and is not blank (measured by Chromium itself
#     on a page that reads the PNG into a canvas).
# Screenshots are kept in $WEFT_TRACE_SCREENSHOT_DIR (the build dir) to look at.
#
#   browser_test.sh WEFT_TRACE WEFT_TRACE_GEN
#
# Chromium comes from Debian's `chromium` package (tools/check installs it);
# when it is missing and cannot be installed here, the test is skipped (77).
set -euo pipefail

tool=${1:?weft-trace path}
gen=${2:?weft-trace-gen path}
keep=${WEFT_TRACE_SCREENSHOT_DIR:-}
big_polls=${WEFT_TRACE_BIG_POLLS:-200000}

say() { printf 'browser test: %s\n' "$*"; }
fail() {
  printf 'browser test: FAILED: %s\n' "$*" >&2
  exit 1
}

find_chromium() {
  local c
  for c in chromium chromium-browser google-chrome; do
    if command -v "$c" >/dev/null; then
      command -v "$c"
      return 0
    fi
  done
  return 1
}

if ! browser=$(find_chromium); then
  sudo=()
  if ((EUID != 0)); then
    if sudo -n true 2>/dev/null; then sudo=(sudo -n); else
      say "SKIP: chromium is not installed and this user cannot install it (apt-get install chromium)"
      exit 77
    fi
  fi
  say "installing chromium (apt-get)"
  apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600)
  if ! "${apt[@]}" install -y --no-install-recommends chromium >/tmp/weft-trace-chromium-apt.log 2>&1; then
    "${apt[@]}" update >>/tmp/weft-trace-chromium-apt.log 2>&1 || true
    if ! "${apt[@]}" install -y --no-install-recommends chromium >>/tmp/weft-trace-chromium-apt.log 2>&1; then
      tail -n 20 /tmp/weft-trace-chromium-apt.log >&2
      say "SKIP: chromium could not be installed (log: /tmp/weft-trace-chromium-apt.log)"
      exit 77
    fi
  fi
  browser=$(find_chromium) || fail "chromium installed but not found on PATH"
fi
say "using $($browser --version 2>/dev/null | head -n 1)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/weft-trace-browser.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# Headless, offline, a throw-away profile; bounded by `timeout`.
chromium_run() {
  local profile
  profile=$(mktemp -d "$tmp/profile.XXXXXX")
  timeout 180 "$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync --disable-dev-shm-usage \
    --hide-scrollbars --user-data-dir="$profile" "$@" 2>>"$tmp/chromium.log"
}

# count PATTERN FILE: occurrences of a fixed string.
count() { { grep -o -F -- "$1" "$2" || true; } | wc -l; }

expect_count() {  # expect_count WHAT WANT PATTERN FILE
  local n
  n=$(count "$3" "$4")
  [[ $n -eq $2 ]] || fail "$1: $n, expected $2 (pattern '$3' in ${4##*/})"
}
expect_at_least() {  # expect_at_least WHAT WANT PATTERN FILE
  local n
  n=$(count "$3" "$4")
  [[ $n -ge $2 ]] || fail "$1: $n, expected at least $2"
}

# Renders REPORT.html, dumps its DOM after the script ran and takes a
# screenshot; checks what every report must show.
render() {  # render NAME LANES WORKERS
  local name=$1 lanes=$2 workers=$3 html=$tmp/$1.html
  local started=$SECONDS
  chromium_run --virtual-time-budget=5000 --dump-dom "file://$html" >"$tmp/$name.dom" ||
    fail "$name: chromium --dump-dom failed (see below)$(tail -n 20 "$tmp/chromium.log")"
  say "$name: DOM dumped in $((SECONDS - started))s"
  # What the script built, without the script's own text (which mentions
  # the same class names and attributes).
  perl -0pe 's{<script\b.*?</script>}{}gs' "$tmp/$name.dom" >"$tmp/$name.body"
  local dom=$tmp/$name.body
  grep -q 'data-error=' "$dom" && fail "$name: the script failed: $(grep -o 'data-error="[^"]*"' "$dom")"
  expect_count "$name: rendered marker" 1 "data-rendered=\"$lanes lanes\"" "$dom"
  expect_count "$name: lane labels" "$lanes" 'class="lane-label"' "$dom"
  expect_count "$name: worker rows" "$workers" 'data-worker="' "$dom"
  expect_count "$name: latency rows" 1 '<td>wake → poll</td>' "$dom"
  expect_count "$name: latency rows" 1 '<td>spawn → poll</td>' "$dom"
  expect_count "$name: tables" 5 '<table id="' "$dom"

  started=$SECONDS
  chromium_run --virtual-time-budget=5000 --window-size=1400,900 --screenshot="$tmp/$name.png" "file://$html" \
    >/dev/null || fail "$name: chromium --screenshot failed$(tail -n 20 "$tmp/chromium.log")"
  [[ -s $tmp/$name.png ]] || fail "$name: no screenshot"
  say "$name: screenshot in $((SECONDS - started))s ($(stat -c %s "$tmp/$name.png") bytes)"
  [[ -n $keep ]] && cp "$tmp/$name.png" "$keep/trace-report-$name.png"
  not_blank "$name"
}

# Chromium measures its own screenshot: the PNG goes into a canvas (as a data
# URL, so the canvas may be read) and the page writes, on its body, how many
# distinct colours it has and how much of it differs from the commonest one.
not_blank() {
  local name=$1
  {
    printf '<!DOCTYPE html><html><body><img id="shot" src="data:image/png;base64,'
    base64 -w0 "$tmp/$name.png"
    cat <<'EOF'
"><script>
// (img.decode() never settles under --virtual-time-budget; the load event does.)
window.addEventListener('load', () => {
  const img = document.getElementById('shot');
  const c = document.createElement('canvas');
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  const g = c.getContext('2d');
  g.drawImage(img, 0, 0);
  const px = g.getImageData(0, 0, c.width, c.height).data;
  const counts = new Map();
  for (let i = 0; i < px.length; i += 4) {
    const k = (px[i] >> 3) << 10 | (px[i + 1] >> 3) << 5 | (px[i + 2] >> 3);
    counts.set(k, (counts.get(k) || 0) + 1);
  }
  const top = Math.max(...counts.values());
  document.body.dataset.size = c.width + 'x' + c.height;
  document.body.dataset.colors = counts.size;
  document.body.dataset.other = Math.round(1000 * (1 - top / (px.length / 4)));
});
</script></body></html>
EOF
  } >"$tmp/$name-check.html"
  chromium_run --virtual-time-budget=5000 --dump-dom "file://$tmp/$name-check.html" >"$tmp/$name-check.dom" ||
    fail "$name: could not measure the screenshot"
  local body colors other size
  body=$(grep -o '<body[^>]*>' "$tmp/$name-check.dom" | head -n 1)
  size=$(sed -n 's/.*data-size="\([^"]*\)".*/\1/p' <<<"$body")
  colors=$(sed -n 's/.*data-colors="\([0-9]*\)".*/\1/p' <<<"$body")
  other=$(sed -n 's/.*data-other="\([0-9]*\)".*/\1/p' <<<"$body")
  [[ -n $colors && -n $other ]] || fail "$name: screenshot not measured ($body)"
  say "$name: screenshot $size, $colors colours, $((other / 10)).$((other % 10))% not background"
  [[ $size == 1400x900 ]] || fail "$name: screenshot is $size, not 1400x900"
  ((colors >= 40)) || fail "$name: screenshot looks blank ($colors colours)"
  ((other >= 100)) || fail "$name: screenshot looks blank (only $((other / 10))% differs from the background)"
}

# The small trace: 3 workers and a blocking thread, the long poll, warnings.
"$gen" basic "$tmp/basic.wtrace"
"$tool" html "$tmp/basic.wtrace" -o "$tmp/basic.html"
render basic 4 3
dom=$tmp/basic.body
expect_count "basic: polls in the data" 1 'data-polls="81"' "$dom"
expect_count "basic: long poll rows" 1 'data-poll="' "$dom"
expect_count "basic: task groups" 4 'data-group="' "$dom"
expect_count "basic: histogram bars" 7 'class="bar"' "$dom"
expect_at_least "basic: never-yields warning" 1 'data-kind="never_yields"' "$dom"
expect_at_least "basic: imbalance warning" 1 'data-kind="imbalance"' "$dom"
expect_at_least "basic: the long poll's site" 1 'src/crunch.cpp:7 crunch(int)' "$dom"
expect_count "basic: the odd function name, escaped" 0 '<b>x</b>' "$dom"

# Interaction, on a copy of the basic report with a script appended that acts
# as a user: wheel zoom, drag, a click on the long poll's row (the timeline
# zooms to it), hovering and clicking the poll, a double-click to fit. It
# writes what it saw on <body data-interaction>. (The view's range label
# follows at once; the canvas is redrawn on the next frame, which headless
# Chromium's virtual time does not wait for.)
cat >"$tmp/interact.js" <<'EOF'
window.addEventListener('load', () => {
  const canvas = document.getElementById('timeline');
  const range = () => document.getElementById('view-range').textContent;
  const r = canvas.getBoundingClientRect();
  const at = (x, y) => ({ clientX: r.left + x, clientY: r.top + y, bubbles: true, cancelable: true });
  const seen = [];
  try {
    const full = range();
    canvas.dispatchEvent(new WheelEvent('wheel', { ...at(r.width / 2, 40), deltaY: -400 }));
    const zoomed = range();
    seen.push('zoom=' + (zoomed !== full ? 'ok' : 'no'));
    canvas.dispatchEvent(new MouseEvent('mousedown', at(300, 40)));
    canvas.dispatchEvent(new MouseEvent('mousemove', at(500, 40)));
    canvas.dispatchEvent(new MouseEvent('mouseup', at(500, 40)));
    seen.push('pan=' + (range() !== zoomed ? 'ok' : 'no'));
    document.querySelector('#long-polls-table tr[data-poll]').click();
    // The long poll is now in the middle of the view, on worker 1's lane.
    const lane = document.querySelector('.lane-label[data-lane="1"]');
    const y = lane.offsetTop + lane.offsetHeight / 2;
    canvas.dispatchEvent(new MouseEvent('mousemove', at(r.width / 2, y)));
    const tip = document.getElementById('tooltip');
    seen.push('tooltip=' + (!tip.hidden && tip.textContent.includes('cruncher') ? 'ok' : 'no'));
    canvas.dispatchEvent(new MouseEvent('mousedown', at(r.width / 2, y)));
    canvas.dispatchEvent(new MouseEvent('mouseup', at(r.width / 2, y)));
    const detail = document.getElementById('detail').textContent;
    seen.push('detail=' + (detail.includes('cruncher') && detail.includes('src/crunch.cpp:7') ? 'ok' : 'no'));
    canvas.dispatchEvent(new MouseEvent('dblclick', at(10, 40)));
    seen.push('fit=' + (range() === full ? 'ok' : 'no'));
  } catch (e) {
    seen.push('error=' + e);
  }
  document.body.dataset.interaction = seen.join(' ');
});
EOF
JS=$tmp/interact.js perl -0pe 'BEGIN { local $/; open my $f, "<", $ENV{JS} or die; $js = <$f>; }
  s{</body>}{<script>$js</script></body>}' "$tmp/basic.html" >"$tmp/interact.html"
chromium_run --virtual-time-budget=5000 --window-size=1400,900 --dump-dom "file://$tmp/interact.html" \
  >"$tmp/interact.dom" || fail "interaction: chromium failed"
seen=$(grep -o 'data-interaction="[^"]*"' "$tmp/interact.dom" || true)
say "interaction: ${seen:-nothing recorded}"
[[ $seen == 'data-interaction="zoom=ok pan=ok tooltip=ok detail=ok fit=ok"' ]] || fail "interaction: $seen"

# A damaged trace (its warnings listed) and one with no events at all.
"$gen" damaged "$tmp/damaged.wtrace"
"$tool" html "$tmp/damaged.wtrace" -o "$tmp/damaged.html" 2>/dev/null
render damaged 4 3
expect_at_least "damaged: truncation warning" 1 'data-kind="truncated"' "$tmp/damaged.body"
expect_at_least "damaged: dropped events warning" 1 'data-kind="dropped"' "$tmp/damaged.body"
"$gen" empty "$tmp/empty.wtrace"
"$tool" html "$tmp/empty.wtrace" -o "$tmp/empty.html"
render empty 2 2
expect_count "empty: polls in the data" 1 'data-polls="0"' "$tmp/empty.body"

# A big trace: it must load and draw within the time limits.
"$gen" "big=$big_polls" "$tmp/big.wtrace"
started=$SECONDS
"$tool" html "$tmp/big.wtrace" -o "$tmp/big.html"
say "big: $big_polls polls, report of $(stat -c %s "$tmp/big.html") bytes written in $((SECONDS - started))s"
render big 4 4
expect_count "big: polls in the data" 1 "data-polls=\"$big_polls\"" "$tmp/big.body"

say "passed"
