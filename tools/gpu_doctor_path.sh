#!/usr/bin/env bash
# The whole path on a GPU machine with no prebuilt wheel, ending with doctor: doctor (before) -> build both
# packages for this GPU (split, empty cache) -> install from the cache (no URL, no index, torch pinned) ->
# smoke cold and --bench -> doctor (after: the installed packages pass, the last smoke result shown).
# Transcript: $OUT/transcript.md; doctor's JSON before/after and smoke's record under $OUT.
# Inputs: SDIR with the two sdists; WHEELS with mambaenv's dependency wheels (see tools/gpu_setup.sh).
set -u
OUT=${OUT:-./gpu-out}; SDIR=${SDIR:-.fixture-cache/sdists}
mkdir -p "$OUT"
. tools/gpu_setup.sh
T="$OUT/transcript.md"; : > "$T"
export MAMBAENV_CACHE_DIR=/tmp/dp-cache TMPDIR=/tmp/dp-tmp
rm -rf "$MAMBAENV_CACHE_DIR" "$TMPDIR"; mkdir -p "$MAMBAENV_CACHE_DIR" "$TMPDIR"

echo "# mambaenv doctor path on $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1), $(nproc) cores, $(date -u +%FT%TZ)" >> "$T"
"$PY" -m pip uninstall -y -q mamba_ssm causal_conv1d >/dev/null 2>&1
step "doctor, before (nothing installed; torch 2.11 has no upstream wheel)" $ME doctor --python "$PY" --offline
$ME doctor --python "$PY" --offline --json > "$OUT/doctor-before.json" 2>/dev/null
step "build both packages for this GPU (split, empty cache)" $ME build --python "$PY" --package all --arch native \
  --sdist "$SDIR"/mamba_ssm-2.3.2.post1.tar.gz --sdist "$SDIR"/causal_conv1d-1.7.0.tar.gz
step "doctor, after the build (the local builds are in the cache)" $ME doctor --python "$PY" --offline
# No --offline-wheel and no URL: install takes the local builds made for this env from the cache. The machine has
# no index, and the env already has the wheels' dependencies (torch, triton, einops, transformers): --no-deps --no-index.
step "install (the cached local builds, torch pinned)" $ME install --python "$PY" --no-deps --no-index
export TRITON_CACHE_DIR=/tmp/triton-fresh-$(date +%s); rm -rf "$TRITON_CACHE_DIR"
step "smoke, cold (fresh TRITON_CACHE_DIR, imports included)" $ME smoke --python "$PY"
step "smoke --bench (warm Triton cache)" $ME smoke --python "$PY" --bench
cp "$MAMBAENV_CACHE_DIR/smoke/last.json" "$OUT/smoke-last.json" 2>/dev/null
step "doctor, after install and smoke" $ME doctor --python "$PY" --offline
$ME doctor --python "$PY" --offline --json > "$OUT/doctor-after.json" 2>/dev/null
step "explain an import error with this env's facts" sh -c "printf 'ImportError: libcudart.so.12: cannot open shared object file: No such file or directory\n' | $ME explain --python $PY"
cat "$OUT/summary.txt"
