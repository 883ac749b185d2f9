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

echo "# mambaenv fast path on $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1), $(nproc) cores, $(date -u +%FT%TZ)" >> "$T"
B0=$(date +%s)
S0=$(now)
step "build both packages (split, empty cache)" $ME build --python "$PY" --package all --arch native \
  --sdist "$SDIR"/mamba_ssm-2.3.2.post1.tar.gz --sdist "$SDIR"/causal_conv1d-1.7.0.tar.gz --dest "$WH"
ls -la "$WH" >> "$T"
mkdir -p /tmp/fast-logs
for f in "$TMPDIR"/mambaenv-build-*/*.log; do [ -f "$f" ] && tail -c 200000 "$f" > "/tmp/fast-logs/build-$(basename "$f")"; done
find "$TMPDIR" -name .ninja_log | while read -r f; do cp "$f" "/tmp/fast-logs/ninja_log-$(echo "$f" | cut -d/ -f5).txt"; done
step "install the built wheels (offline, torch pinned)" $ME install --offline-wheel "$WH" --python "$PY" --no-deps
export TRITON_CACHE_DIR=/tmp/triton-fresh-$(date +%s); rm -rf "$TRITON_CACHE_DIR"
step "smoke, cold (fresh TRITON_CACHE_DIR, imports included)" $ME smoke --python "$PY"
step "smoke --bench (warm Triton cache)" $ME smoke --python "$PY" --bench
cp "$MAMBAENV_CACHE_DIR/smoke/last.json" /tmp/fast-logs/smoke-last.json 2>/dev/null
step "the same build again (from the cache)" $ME build --python "$PY" --package all --arch native \
  --sdist "$SDIR"/mamba_ssm-2.3.2.post1.tar.gz --sdist "$SDIR"/causal_conv1d-1.7.0.tar.gz --dest "$WH"
ls -la "$MAMBAENV_CACHE_DIR"/builds/* >> "$T" 2>&1
tar czf "$OUT/logs.tar.gz" -C /tmp fast-logs
# causal_conv1d split alone (its own empty cache), if the device time allows: the split-vs-unsplit figure
if [ "$(secs $S0 $(now) | cut -d. -f1)" -lt "${ALONE_IF_UNDER:-280}" ]; then
  MAMBAENV_CACHE_DIR=/tmp/alone-cache TMPDIR=/tmp/alone-tmp; mkdir -p /tmp/alone-cache /tmp/alone-tmp
  step "causal_conv1d alone, split (empty cache)" env MAMBAENV_CACHE_DIR=/tmp/alone-cache TMPDIR=/tmp/alone-tmp $ME build \
    --python "$PY" --package causal_conv1d --arch native --sdist "$SDIR"/causal_conv1d-1.7.0.tar.gz --dest /tmp/alone-wheels
  find /tmp/alone-tmp -name .ninja_log | while read -r f; do cp "$f" /tmp/fast-logs/ninja_log-causal-alone.txt; done
fi
tar czf "$OUT/logs.tar.gz" -C /tmp fast-logs
cat "$OUT/summary.txt"
