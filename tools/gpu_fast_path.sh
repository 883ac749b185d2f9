#!/usr/bin/env bash
# Issue 12's figures in one device call: `build --package all` with an empty cache (split, both packages
# side by side), install the wheels offline, smoke cold (fresh TRITON_CACHE_DIR) and warm, smoke --bench,
# then the same build again (served from the cache). Transcript: $OUT/transcript.md; logs under $OUT.
# Inputs: SDIR with the two sdists; WHEELS with mambaenv's dependency wheels (see tools/gpu_setup.sh).
set -u
OUT=${OUT:-./gpu-out}; SDIR=${SDIR:-.fixture-cache/sdists}
mkdir -p "$OUT"
. tools/gpu_setup.sh
T="$OUT/transcript.md"; : > "$T"
export MAMBAENV_CACHE_DIR=/tmp/fast-cache TMPDIR=/tmp/fast-tmp
rm -rf "$MAMBAENV_CACHE_DIR" "$TMPDIR"; mkdir -p "$MAMBAENV_CACHE_DIR" "$TMPDIR"
WH=/tmp/fast-wheels; rm -rf "$WH"

step() {  # step "title" cmd...   (runs, records output, wall time and exit code in the transcript)
  local title=$1; shift
  local t0=$(now)
  printf '\n## %s\n\n```console\n$ %s\n' "$title" "$*" >> "$T"
  "$@" > "$OUT/step.out" 2>&1
  local rc=$?
  local w=$(secs $t0 $(now))
  cat "$OUT/step.out" >> "$T"
  printf '```\nexit code %s, wall time %s s\n' "$rc" "$w" >> "$T"
  echo "[$title] rc=$rc ${w} s" | tee -a "$OUT/summary.txt"
  return $rc
}

echo "# mambaenv fast path on $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1), $(nproc) cores, $(date -u +%FT%TZ)" >> "$T"
B0=$(date +%s)
step "build both packages (split, empty cache)" $ME build --python "$PY" --package all --arch native \
  --sdist "$SDIR"/mamba_ssm-2.3.2.post1.tar.gz --sdist "$SDIR"/causal_conv1d-1.7.0.tar.gz --dest "$WH"
ls -la "$WH" >> "$T"
for f in "$TMPDIR"/mambaenv-build-*/*.log; do [ -f "$f" ] && tail -c 200000 "$f" > "$OUT/build-$(basename "$f")"; done
find "$TMPDIR" -name .ninja_log | while read -r f; do cp "$f" "$OUT/ninja_log-$(echo "$f" | cut -d/ -f5).txt"; done
step "install the built wheels (offline, torch pinned)" $ME install --offline-wheel "$WH" --python "$PY" --no-deps
export TRITON_CACHE_DIR=/tmp/triton-fresh-$(date +%s); rm -rf "$TRITON_CACHE_DIR"
step "smoke, cold (fresh TRITON_CACHE_DIR, imports included)" $ME smoke --python "$PY"
step "smoke, warm" $ME smoke --python "$PY"
step "smoke --bench" $ME smoke --python "$PY" --bench
cp "$MAMBAENV_CACHE_DIR/smoke/last.json" "$OUT/smoke-last.json" 2>/dev/null
step "the same build again (from the cache)" $ME build --python "$PY" --package all --arch native \
  --sdist "$SDIR"/mamba_ssm-2.3.2.post1.tar.gz --sdist "$SDIR"/causal_conv1d-1.7.0.tar.gz --dest "$WH"
ls -la "$MAMBAENV_CACHE_DIR/builds"/* >> "$T" 2>&1
cat "$OUT/summary.txt"
