# Sourced by the tools/gpu_*.sh scripts: mambaenv's own dependencies into a venv of their own on an offline
# GPU machine, from a folder of wheels carried in (WHEELS, default .device/wheels). Sets ME (the command).
PY=${PY:-/opt/torch/.venv/bin/python3}
WHEELS=${WHEELS:-.device/wheels}
MEV=${MEV:-/tmp/mambaenv-venv}
if [ ! -x "$MEV/bin/python" ] || ! "$MEV/bin/python" -c "import typer, rich, docker, platformdirs, filelock" 2>/dev/null; then
  rm -rf "$MEV"
  "$PY" -m venv --without-pip "$MEV"
  "$PY" -m pip --python "$MEV/bin/python" install -q --no-index --find-links "$WHEELS" \
    packaging requests urllib3 typer rich docker nvidia-ml-py platformdirs filelock pyelftools
fi
# Run from the repository root: `python -m mambaenv` is this checkout's code.
ME="$MEV/bin/python -m mambaenv"
export COLUMNS=120
now() { date +%s.%N; }
secs() { "$PY" -c "import sys; print('%.1f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$1" "$2"; }
# The transcript step, for the scripts that set T (transcript) and OUT:
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
