#!/usr/bin/env bash
# The whole path on a GPU machine with no prebuilt wheel, using only mambaenv:
#   doctor -> build (both packages, this GPU's architecture) -> install --offline-wheel -> smoke --bench
# Writes a transcript (commands, outputs, timings) to $OUT (default ./gpu-out).
# Inputs: SDIR, a folder with mamba_ssm-*.tar.gz and causal_conv1d-*.tar.gz (the machine may be offline).
set -u
OUT=${OUT:-./gpu-out}
SDIR=${SDIR:-.gpu}
PY=${PY:-$(command -v python3)}
mkdir -p "$OUT"
T="$OUT/transcript.md"
: > "$T"

step() {  # step "title" cmd...   (runs, tees output, records wall time and exit code)
  local title=$1; shift
  local t0=$(date +%s%N)
  printf '\n## %s\n\n```console\n$ %s\n' "$title" "$*" >> "$T"
  "$@" > "$OUT/step.out" 2>&1
  local rc=$?
  local t1=$(date +%s%N)
  local secs=$(( (t1 - t0) / 1000000 ))
  cat "$OUT/step.out" >> "$T"
  printf '```\nexit code %s, wall time %d.%03d s\n' "$rc" $((secs / 1000)) $((secs % 1000)) >> "$T"
  echo "[$title] rc=$rc ${secs} ms"
  return $rc
}

export COLUMNS=120
echo "# mambaenv on $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1), $(date -u +%F)" >> "$T"
if [ -z "${SMOKE_ONLY:-}" ]; then
step "doctor" python3 -m mambaenv doctor --python "$PY" --offline
python3 -m mambaenv doctor --python "$PY" --offline --json > "$OUT/doctor.json" 2>/dev/null
WH="$OUT/../built-wheels"
mkdir -p "$WH"
step "build both packages for this GPU only, in parallel" python3 -m mambaenv build --python "$PY" --package all \
  --sdist "$SDIR"/mamba_ssm-*.tar.gz --sdist "$SDIR"/causal_conv1d-*.tar.gz --arch native --dest "$WH"
ls -la "$WH" >> "$T"
# The machine has no network: the wheels' own dependencies that the env lacks (tilelang, quack-kernels)
# cannot be fetched here, and the env already has torch, triton, einops, transformers.
step "install the built wheels (offline, torch pinned)" python3 -m mambaenv install --offline-wheel "$WH" --python "$PY" --no-deps
fi
step "smoke (timed, imports included)" python3 -m mambaenv smoke --python "$PY"
step "smoke --bench" python3 -m mambaenv smoke --python "$PY" --bench

echo done
