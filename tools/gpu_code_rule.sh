#!/usr/bin/env bash
# Proves compat.runs_on (the one "does this GPU code run on this GPU" rule) on a real GPU: the same kernel built as SASS
# only and as PTX only for an older architecture (default sm_80), and as SASS for this GPU's own major at a lower
# minor when one exists. Each binary's GPU code is read back with mambaenv.elf, the rule's prediction is printed beside
# what the GPU did. Needs nvcc and a GPU; prints one line per binary, and exits non-zero if a prediction was wrong.
set -u
PY=${PY:-python3}
OLD=${OLD:-80}
W=$(mktemp -d)
cat > "$W/k.cu" <<'CU'
#include <cstdio>
__global__ void add_one(int *x) { x[threadIdx.x] += 1; }
int main() {
  int *d; cudaMalloc(&d, 32 * sizeof(int)); cudaMemset(d, 0, 32 * sizeof(int));
  add_one<<<1, 32>>>(d);
  cudaError_t e = cudaDeviceSynchronize();
  if (e == cudaSuccess) e = cudaGetLastError();
  int h[32]; cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost);
  printf("%s %d\n", e == cudaSuccess ? "ran" : cudaGetErrorString(e), h[31]);
  return e == cudaSuccess && h[31] == 1 ? 0 : 1;
}
CU
CAP=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d ' .')
declare -A BUILDS=([sass_$OLD]="arch=compute_$OLD,code=sm_$OLD" [ptx_$OLD]="arch=compute_$OLD,code=compute_$OLD"
                   [sass_$CAP]="arch=compute_$CAP,code=sm_$CAP")
for name in "${!BUILDS[@]}"; do
  nvcc -O0 -gencode "${BUILDS[$name]}" -o "$W/$name" "$W/k.cu" || { echo "$name: nvcc failed"; continue; }
done
"$PY" - "$W" "$CAP" <<'PYCODE'
import subprocess, sys
from pathlib import Path
sys.path.insert(0, ".")
from mambaenv.compat import runs_on
from mambaenv.elf import gpu_code
work, cap = Path(sys.argv[1]), int(sys.argv[2])
wrong = 0
for exe in sorted(p for p in work.iterdir() if p.name.startswith(("sass_", "ptx_"))):
    sass, ptx = gpu_code(exe)
    predicted = runs_on(sass, ptx, cap)
    run = subprocess.run([str(exe)], capture_output=True, text=True)
    ran = run.returncode == 0
    wrong += predicted != ran
    print(f"{exe.name:10} SASS {list(sass)} PTX {list(ptx)} on sm_{cap}: rule says {'runs' if predicted else 'does not run'}, "
          f"the GPU: {run.stdout.strip() or run.stderr.strip()} -> {'agree' if predicted == ran else 'DISAGREE'}")
sys.exit(1 if wrong else 0)
PYCODE
