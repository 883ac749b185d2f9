#!/usr/bin/env bash
# One command on the GPU machine (no engine, no network, root in a container): carry in Podman as Debian .debs, write
# a CDI spec for the GPU by hand, make an image from this machine's own files, and run
#   python -m mambaenv docker run PROJECT --gpus all -- python -c "import torch; print(torch.cuda.is_available())"
# Every probe's output is printed, so a failure says exactly what blocked it.
#
# Carried: .gpu-carry/debs/*.deb (apt-get download podman conmon runc golang-github-containers-common
# golang-github-containers-image netavark libsubid4 libgpgme11 libassuan0 libgpg-error0 libdevmapper1.02.1
# libglib2.0-0 libseccomp2 crun libyajl2) and .gpu-carry/wheels/*.whl (docker platformdirs filelock pyelftools).
#
#   bash tools/gpu_container_probe.sh            # PY=/opt/torch/.venv/bin/python by default
set -uo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
CARRY=${CARRY:-$REPO/.gpu-carry}
PY=${PY:-/opt/torch/.venv/bin/python}          # the python (and its env) put into the image
VENV=$(cd "$(dirname "$PY")/.." && pwd)
MPY=${MPY:-$PY}                                # the python that runs mambaenv on the host (a rehearsal elsewhere may differ)
WORK=${WORK:-/tmp/mambaenv-gpu-probe}
PREFIX=$WORK/podman-root
IMAGE=localhost/mambaenv-gpu-probe:1
SPEC=/var/run/cdi/mambaenv-probe-nvidia.json
T0=$(date +%s)

step() { echo; echo "=== [$(( $(date +%s) - T0 )) s] $*"; }
run() { echo "+ $*"; "$@"; local rc=$?; echo "(rc=$rc)"; return $rc; }
stop() { echo; echo "BLOCKED at: $*"; echo "total $(( $(date +%s) - T0 )) s"; exit 1; }
trap 'rm -f "$SPEC"' EXIT

step "machine"
uname -a; id; grep -E '^(CapEff|NoNewPrivs)' /proc/self/status
grep -E ' /sys/fs/cgroup ' /proc/mounts; cat /proc/self/cgroup | head -3
ls -l /dev/nvidia* 2>&1 | head; nvidia-smi -L 2>&1 | head -3
ls -l /usr/lib/libcuda* /usr/lib/x86_64-linux-gnu/libcuda* /usr/local/nvidia/lib64/ 2>&1 | head
"$PY" -c "import sys, torch; print(sys.version.split()[0], torch.__version__, torch.cuda.is_available())" 2>&1
df -h /tmp /dev/shm 2>&1; du -sh "$VENV" 2>&1; ls /etc/containers /etc/cdi 2>&1

step "podman from the carried .debs, unpacked into $PREFIX (dpkg -x: nothing installed system-wide)"
rm -rf "$WORK"; mkdir -p "$PREFIX" "$WORK/pylib" "$WORK/project"
ls "$CARRY"/debs/*.deb >/dev/null 2>&1 || stop "no .debs in $CARRY/debs"
for deb in "$CARRY"/debs/*.deb; do dpkg -x "$deb" "$PREFIX" || stop "dpkg -x $deb"; done
LIBS=$PREFIX/usr/lib/x86_64-linux-gnu:$PREFIX/lib/x86_64-linux-gnu
mkdir -p "$PREFIX/bin"
# podman, conmon and the runtimes find the carried libraries through wrappers (conmon does not pass the environment
# on to the runtime); python and the container never see them
for b in usr/bin/podman usr/bin/conmon usr/bin/crun usr/sbin/runc; do
cat > "$PREFIX/bin/$(basename $b)" <<EOF
#!/bin/sh
export LD_LIBRARY_PATH="$LIBS\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
exec "$PREFIX/$b" "\$@"
EOF
chmod +x "$PREFIX/bin/$(basename $b)"
done
export PATH=$PREFIX/bin:$PREFIX/usr/bin:$PREFIX/usr/sbin:$PATH
for b in usr/bin/podman usr/bin/conmon usr/bin/crun usr/sbin/runc; do LD_LIBRARY_PATH=$LIBS ldd "$PREFIX/$b" | grep -i "not found" | sed "s|^|$b: |"; done
run podman --version || stop "podman does not start (see the ldd lines above)"

step "podman's configuration (env: CONTAINERS_CONF, CONTAINERS_STORAGE_CONF, CONTAINERS_REGISTRIES_CONF)"
free_shm_kb=$(df -Pk /dev/shm 2>/dev/null | awk 'NR==2 {print $4}')
if [ "${free_shm_kb:-0}" -gt 41943040 ]; then DRIVER=overlay; GRAPH=/dev/shm/mambaenv-podman-storage  # tmpfs: overlay works on it
else DRIVER=vfs; GRAPH=$WORK/storage; fi                                                              # overlay on this overlay root would not
echo "storage: $DRIVER at $GRAPH"
write_conf() {  # $1: the OCI runtime, $2: cgroups ("disabled": nested in a container, no cgroup of our own to delegate)
cat > "$WORK/containers.conf" <<EOF
[containers]
default_ulimits = []        # no CAP_SYS_RESOURCE here: Podman's default rlimits would fail every start
cgroups = "$2"
seccomp_profile = "$PREFIX/usr/share/containers/seccomp.json"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
conmon_path = ["$PREFIX/bin/conmon"]
helper_binaries_dir = ["$PREFIX/usr/lib/podman"]
runtime = "$1"
[engine.runtimes]
crun = ["$PREFIX/bin/crun"]
runc = ["$PREFIX/bin/runc"]
[network]
network_backend = "netavark"
EOF
}
write_conf crun disabled
printf '[storage]\ndriver = "%s"\ngraphroot = "%s"\nrunroot = "%s/run"\n' "$DRIVER" "$GRAPH" "$WORK" > "$WORK/storage.conf"
printf 'unqualified-search-registries = []\n' > "$WORK/registries.conf"
export CONTAINERS_CONF=$WORK/containers.conf CONTAINERS_STORAGE_CONF=$WORK/storage.conf CONTAINERS_REGISTRIES_CONF=$WORK/registries.conf
[ -e /etc/containers/policy.json ] || { mkdir -p /etc/containers; cp "$PREFIX/etc/containers/policy.json" /etc/containers/policy.json; }
run podman info --format '{{.Host.OCIRuntime.Path}} {{.Store.GraphDriverName}} {{.Host.CgroupsVersion}} rootless={{.Host.Security.Rootless}}' \
  || stop "podman info"

step "the engine alone: a tiny image (echo and its libc), run by podman itself, one set-up after another"
tiny=$WORK/tiny; mkdir -p "$tiny/usr/bin" "$tiny/lib64" "$tiny/usr/lib/x86_64-linux-gnu"
cp -L /usr/bin/echo "$tiny/usr/bin/"; cp -L /lib64/ld-linux-x86-64.so.2 "$tiny/lib64/"; cp -L /lib/x86_64-linux-gnu/libc.so.6 "$tiny/usr/lib/x86_64-linux-gnu/"
ln -s usr/bin "$tiny/bin"; ln -s usr/lib "$tiny/lib"
tar -C "$tiny" -cf - . | podman import - localhost/mambaenv-tiny:1 >/dev/null || stop "podman import of a tiny image"
engine_ok=""
for setup in "crun disabled" "runc enabled" "crun enabled"; do
  write_conf $setup
  echo "-- runtime/cgroups: $setup"
  if run podman run --rm --network none localhost/mambaenv-tiny:1 /usr/bin/echo container runs; then engine_ok="$setup"; break; fi
done
[ -n "$engine_ok" ] || stop "no container runs with crun or runc, cgroups disabled or enabled (the errors above)"
echo "kept: $engine_ok"

step "an image from this machine's own files (no registry): a minimal root + $VENV, podman import"
cd /
paths=${IMAGE_PATHS:-"etc bin sbin lib lib64 usr/bin usr/sbin usr/lib usr/lib64 usr/libexec ${VENV#/}"}
existing=""; for p in $paths; do [ -e "/$p" ] || [ -L "/$p" ] && existing="$existing $p"; done
du -sh $existing 2>/dev/null | sort -h | tail -5
# the driver's own libraries come from the CDI spec (as on any host), not from the image
tar --one-file-system --exclude='usr/lib/x86_64-linux-gnu/libnvidia-*' --exclude='usr/lib/x86_64-linux-gnu/libcuda*' \
    --exclude='usr/lib/libcuda*' --exclude='usr/lib/libnvidia-*' --exclude='*/__pycache__' -cf - $existing 2>"$WORK/tar.err" \
  | podman import --change "ENV=PATH=$VENV/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" - "$IMAGE"
echo "(import rc=$?)"; tail -3 "$WORK/tar.err"; cd "$REPO"
run podman image inspect --format '{{.Id}} {{.Size}}' "$IMAGE" || stop "podman import"

step "CDI spec for the GPU, written by hand (no nvidia-ctk): device nodes, the driver's libraries mounted"
"$MPY" - "$SPEC" <<'EOF'
import glob, json, os, sys
nodes = [p for p in ["/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset"] if os.path.exists(p)]
gpus = [{"path": g} for g in sorted(glob.glob("/dev/nvidia[0-9]*"))]
if not gpus and os.environ.get("REHEARSE"):  # a machine without a GPU: /dev/zero stands in for /dev/nvidia0
    gpus = [{"path": "/dev/nvidia0", "hostPath": "/dev/zero"}]
libs = sorted({p for d in ("/usr/lib", "/usr/lib/x86_64-linux-gnu", "/usr/local/nvidia/lib64", "/usr/lib64")
               for pat in ("libcuda.so*", "libnvidia-*.so*", "libcudadebugger.so*") for p in glob.glob(f"{d}/{pat}")})
tools = [p for p in ("/usr/bin/nvidia-smi",) if os.path.exists(p)]
mounts = [{"hostPath": p, "containerPath": p, "options": ["ro", "nosuid", "nodev", "bind"]} for p in libs + tools]
lib_dirs = sorted({os.path.dirname(p) for p in libs})
spec = {"cdiVersion": "0.5.0", "kind": "nvidia.com/gpu",
        "devices": [{"name": str(i), "containerEdits": {"deviceNodes": [g]}} for i, g in enumerate(gpus)]
                   + [{"name": "all", "containerEdits": {"deviceNodes": gpus}}],
        "containerEdits": {"deviceNodes": [{"path": n} for n in nodes], "mounts": mounts,
                           "env": [f"LD_LIBRARY_PATH={':'.join(lib_dirs)}", "NVIDIA_VISIBLE_DEVICES=void"]}}
os.makedirs(os.path.dirname(sys.argv[1]), exist_ok=True)
open(sys.argv[1], "w").write(json.dumps(spec, indent=1))
print(f"{sys.argv[1]}: {len(gpus)} GPU node(s), {len(nodes)} control node(s), {len(libs)} driver libraries")
EOF
[ -s "$SPEC" ] || stop "writing the CDI spec"
head -c 1500 "$SPEC"; echo

step "mambaenv on this machine's python (its missing pure-Python dependencies from the carried wheels)"
for whl in "$CARRY"/wheels/*.whl; do "$MPY" -m zipfile -e "$whl" "$WORK/pylib" || stop "unpacking $whl"; done
export PYTHONPATH=$REPO:$WORK/pylib MAMBAENV_ENGINE=podman-cli MAMBAENV_CACHE_DIR=$WORK/cache
cat > "$WORK/project/check.py" <<'EOF'
import glob, os
print("in the container:", sorted(glob.glob("/dev/nvidia*")), "LD_LIBRARY_PATH=" + os.environ.get("LD_LIBRARY_PATH", ""))
import torch
print("cuda available:", torch.cuda.is_available())
if torch.cuda.is_available():
    print("device:", torch.cuda.get_device_name(0), "capability", torch.cuda.get_device_capability(0))
    x = torch.randn(1024, 1024, device="cuda")
    print("matmul ok:", float((x @ x).sum().isfinite()))
EOF
run "$MPY" -m mambaenv doctor --offline 2>&1 | grep -A2 -E "^docker|^gpu|^driver" | head -12

step "a container without the GPU first (the engine alone)"
run timeout 300 "$MPY" -m mambaenv docker run "$WORK/project" --image "$IMAGE" --gpus none --network none -- python3 -c "import sys; print('python', sys.version.split()[0], 'in a container')" \
  || stop "a plain container (no GPU) does not run"

step "mambaenv docker run --gpus all: torch.cuda.is_available() inside"
run timeout 300 "$MPY" -m mambaenv docker run "$WORK/project" --image "$IMAGE" --gpus all --network none -- python3 /workspace/check.py
gpu_rc=$?

if "$PY" -c "import mamba_ssm, causal_conv1d" 2>/dev/null; then
  step "mamba smoke in the container: Mamba forward+backward on the GPU"
  cat > "$WORK/project/mamba_smoke.py" <<'EOF'
import torch
from mamba_ssm import Mamba
m = Mamba(d_model=16, d_state=16, d_conv=4, expand=2).cuda()
x = torch.randn(2, 64, 16, device="cuda", requires_grad=True)
y = m(x); y.sum().backward()
print("mamba ok", tuple(y.shape), "grads finite:", bool(torch.isfinite(x.grad).all()))
EOF
  run timeout 300 "$MPY" -m mambaenv docker run "$WORK/project" --image "$IMAGE" --gpus all --network none -- python3 /workspace/mamba_smoke.py
else
  step "mamba_ssm is not installed in $VENV here: no mamba smoke (torch only)"
fi
run podman ps -a
echo; echo "done in $(( $(date +%s) - T0 )) s; gpu run rc=$gpu_rc"
exit $gpu_rc
