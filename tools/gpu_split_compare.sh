#!/usr/bin/env bash
# causal_conv1d built for this GPU split (the default) and unsplit (--no-split), same machine, same MAX_JOBS;
# while the unsplit build's one long nvcc runs, mamba_ssm's split build (niced) checks the launch split
# compiles and links; then both split wheels run the smoke test straight from their unpacked files
# (cold, with a fresh TRITON_CACHE_DIR). Results: $OUT/split-compare.md, logs and ninja logs under $OUT.
# Inputs: SDIR with the two sdists; WHEELS with mambaenv's dependency wheels (see tools/gpu_setup.sh).
set -u
OUT=${OUT:-./gpu-out}; SDIR=${SDIR:-.fixture-cache/sdists}
mkdir -p "$OUT"
. tools/gpu_setup.sh
R="$OUT/split-compare.md"; : > "$R"
T0=$(now)
nproc > "$OUT/nproc.txt"; nm --version | head -1 >> "$OUT/nproc.txt" 2>&1

build() {  # build NAME ARGS...  -> $OUT/NAME.out, NAME.time, NAME.json, logs; runs in its own TMPDIR and cache
  local name=$1; shift
  local tmp=/tmp/b-$name; rm -rf "$tmp"; mkdir -p "$tmp/cache"
  local t0=$(now)
  { time TMPDIR=$tmp MAMBAENV_CACHE_DIR=$tmp/cache ${LIMIT:+timeout $LIMIT} $ME build --python "$PY" --arch native --dest "$tmp/wheels" "$@" \
      > "$OUT/$name.out" 2>&1 ; } 2> "$OUT/$name.time"
  local rc=$?
  echo "$name rc=$rc wall $(secs $t0 $(now)) s" | tee -a "$OUT/summary.txt"
  for f in "$tmp"/mambaenv-build-*/*.log; do [ -f "$f" ] && tail -c 300000 "$f" > "$OUT/$name-$(basename "$f")"; done
  find "$tmp" -name .ninja_log -exec sh -c 'cp "$1" "$2/$3-$(basename $(dirname $(dirname "$1")))-ninja_log.txt"' _ {} "$OUT" "$name" \;
  return $rc
}

build causal-split --package causal_conv1d --sdist "$SDIR"/causal_conv1d-1.7.0.tar.gz
# mamba_ssm split in the background, niced: the unsplit causal build is one long nvcc on one core.
( renice -n 19 $BASHPID > /dev/null; build mamba-split --package mamba_ssm --sdist "$SDIR"/mamba_ssm-2.3.2.post1.tar.gz ) &
MPID=$!
LIMIT=470 build causal-unsplit --package causal_conv1d --sdist "$SDIR"/causal_conv1d-1.7.0.tar.gz --no-split
wait $MPID

# Smoke straight from the unpacked split wheels (no install), cold Triton cache.
X=/tmp/smoke-x; rm -rf $X; mkdir -p $X
for w in /tmp/b-causal-split/wheels/*.whl /tmp/b-mamba-split/wheels/*.whl; do [ -f "$w" ] && "$PY" -m zipfile -e "$w" $X; done
ls $X > "$OUT/unpacked.txt"
if [ "$(secs $T0 $(now) | cut -d. -f1)" -lt 540 ]; then
  t0=$(now)
  TRITON_CACHE_DIR=/tmp/triton-cold PYTHONPATH=$X timeout 60 "$PY" -c "$(cat mambaenv/smoke/smoke_script.py)" > "$OUT/smoke-split-cold.json" 2> "$OUT/smoke-split-cold.err"
  echo "smoke-split-cold rc=$? wall $(secs $t0 $(now)) s" >> "$OUT/summary.txt"
fi
{
  echo "# causal_conv1d split vs unsplit on $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1), $(nproc) cores, $(date -u +%FT%TZ)"
  for n in causal-split causal-unsplit mamba-split; do
    echo; echo "## $n"; echo; echo '```console'; cat "$OUT/$n.out" 2>/dev/null; cat "$OUT/$n.time" 2>/dev/null; echo '```'
  done
  echo; echo '```'; cat "$OUT/summary.txt"; echo '```'
} >> "$R"
cat "$OUT/summary.txt"
echo "total $(secs $T0 $(now)) s"
