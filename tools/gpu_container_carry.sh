#!/usr/bin/env bash
# Fill .gpu-carry/ (git-ignored, ~17 MiB) with what tools/gpu_container_probe.sh needs on the GPU machine, which has
# no network: Debian's Podman and its runtime's .debs, and the pure-Python wheels mambaenv needs there beyond what
# /opt/torch/.venv has. Run on a connected Debian 12 machine (this project's dev machines are).
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf .gpu-carry && mkdir -p .gpu-carry/debs .gpu-carry/wheels
(cd .gpu-carry/debs && apt-get download podman conmon runc crun golang-github-containers-common golang-github-containers-image \
   netavark libsubid4 libgpgme11 libassuan0 libgpg-error0 libdevmapper1.02.1 libglib2.0-0 libseccomp2 libyajl2)
python3 -m pip download -q --only-binary :all: --no-deps --python-version 3.12 --platform manylinux2014_x86_64 \
  -d .gpu-carry/wheels docker platformdirs filelock pyelftools
du -sh .gpu-carry
