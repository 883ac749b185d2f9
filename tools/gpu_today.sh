#!/usr/bin/env bash
# One run on the GPU machine for the 2026-12-06 stop: the SASS/PTX rule on the GPU, the plan for torch 2.11 (Astral's
# prediction offline), a build with today's build path (C++ standard per torch, the kernel kept and checked), install
# from the cache, smoke, and doctor once the packages are installed (from the record vs a forced re-probe).
# Transcript: $OUT/transcript.md; summary: $OUT/summary.txt. Inputs: SDIR (the two sdists), WHEELS (mambaenv's deps).
set -u
OUT=${OUT:-./gpu-out}; SDIR=${SDIR:-.fixture-cache/sdists}
mkdir -p "$OUT"
. tools/gpu_setup.sh
T="$OUT/transcript.md"; : > "$T"
export MAMBAENV_CACHE_DIR=/tmp/gt-cache TMPDIR=/tmp/gt-tmp
rm -rf "$MAMBAENV_CACHE_DIR" "$TMPDIR"; mkdir -p "$MAMBAENV_CACHE_DIR" "$TMPDIR"
echo "# mambaenv on $(nvidia-smi --query-gpu=name,compute_cap,driver_version --format=csv,noheader | head -1), $(nproc) cores, $(date -u +%FT%TZ)" >> "$T"
"$PY" -m pip uninstall -y -q mamba_ssm causal_conv1d >/dev/null 2>&1
step "the one GPU-code rule (compat.runs_on) against this GPU: SASS only, PTX only" env PY="$MEV/bin/python" tools/gpu_code_rule.sh
step "doctor, nothing installed" $ME doctor --python "$PY" --offline
step "resolve for this env, offline (torch 2.11: no upstream wheel)" $ME resolve --python "$PY" --offline
step "build both packages for this GPU (split; C++ standard per torch; kernel checked)" $ME build --python "$PY" --package all --arch native \
  --sdist "$SDIR"/mamba_ssm-2.3.2.post1.tar.gz --sdist "$SDIR"/causal_conv1d-1.7.0.tar.gz
step "install (the plan: the cached local builds; no URL, no index, torch pinned)" $ME install --python "$PY" --no-deps --no-index
export TRITON_CACHE_DIR=/tmp/triton-fresh-$(date +%s); rm -rf "$TRITON_CACHE_DIR"
step "smoke, cold" $ME smoke --python "$PY"
step "doctor, installed (first run loads the extensions and keeps the record)" $ME doctor --python "$PY" --offline
step "doctor, installed (from the record)" $ME doctor --python "$PY" --offline
$ME doctor --python "$PY" --offline --json > "$OUT/doctor-installed.json" 2>/dev/null
step "doctor installed: the record vs a forced re-probe (7 runs each)" "$MEV/bin/python" benchmarks/bench_doctor_installed.py --python "$PY"
step "resolve for this env after install (installed comes first)" $ME resolve --python "$PY" --offline --json
cat "$OUT/summary.txt"
