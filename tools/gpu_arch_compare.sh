#!/usr/bin/env bash
# The same mamba_ssm build twice with equal MAX_JOBS: this GPU's architecture only, then upstream's
# full architecture list (stopped at FULL_LIMIT seconds; a stop is reported as a lower bound).
set -u
OUT=${OUT:-./gpu-out}; SDIR=${SDIR:-.gpu}; PY=${PY:-$(command -v python3)}; JOBS=${JOBS:-16}; FULL_LIMIT=${FULL_LIMIT:-380}
mkdir -p "$OUT"
R="$OUT/arch-compare.md"
t0=$(date +%s)
python3 -m mambaenv build --python "$PY" --package mamba_ssm --sdist "$SDIR"/mamba_ssm-*.tar.gz --arch native --jobs "$JOBS" --dest /tmp/native > "$OUT/native.out" 2>&1
t1=$(date +%s)
timeout "$FULL_LIMIT" python3 -m mambaenv build --python "$PY" --package mamba_ssm --sdist "$SDIR"/mamba_ssm-*.tar.gz --arch upstream --jobs "$JOBS" --dest /tmp/upstream > "$OUT/upstream.out" 2>&1
rc=$?
t2=$(date +%s)
{
  echo "# mamba_ssm build time by architecture list (MAX_JOBS=$JOBS each, one after the other)"
  echo; echo '```'; cat "$OUT/native.out"; echo '```'
  echo "native (sm_90 only): $((t1 - t0)) s wall"
  if [ $rc -eq 124 ]; then
    echo "upstream (every architecture in setup.py): did not finish in $((t2 - t1)) s (stopped); the native build took at most $(( 100 * (t1 - t0) / (t2 - t1) ))% of it"
  else
    echo '```'; cat "$OUT/upstream.out"; echo '```'
    echo "upstream (every architecture): $((t2 - t1)) s wall, exit $rc; native/upstream = $(( 100 * (t1 - t0) / (t2 - t1) ))%"
  fi
} > "$R"
cat "$R"
