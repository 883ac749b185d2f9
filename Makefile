# Two commands on a fresh machine:  make doctor   and   make test
PY ?= python3
PIP ?= $(PY) -m pip

.PHONY: install doctor test test-deps system-deps fixtures lint bench catalog compile-proof astral-data conda-forge-data

# An editable install leaves mambaenv's bytecode to its first import, which PYTHONDONTWRITEBYTECODE (set on these
# machines) turns off: every start would compile the sources again. Compile once, as pip does for a regular install.
install:
	$(PIP) install -q -e '.[test]'
	$(PY) -m compileall -q mambaenv

doctor: install  # the report is the point: a non-zero exit (no working path yet) does not stop make
	-mambaenv doctor

# System parts the tests use for real: a Docker engine (docker.io), Podman (its API services, rootful and rootless,
# started by tools/start_podman.py), debootstrap for the registry-free base image, Debian's docker-registry (the CNCF
# distribution registry) that the push/pull tests start on 127.0.0.1, aria2 (aria2c, the download benchmark's
# peer), and chromium + chromium-driver (the catalog page is tested in a real browser). Installed only where
# missing; root needed (CI and dev machines are root).
system-deps:
	@command -v dockerd >/dev/null && command -v podman >/dev/null && command -v debootstrap >/dev/null && command -v docker-registry >/dev/null && command -v aria2c >/dev/null \
	  && command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io podman debootstrap docker-registry aria2 chromium chromium-driver >/dev/null)
	@$(PY) tools/start_dockerd.py
	@$(PY) tools/start_podman.py

fixtures: install
	$(PY) tools/fetch_fixtures.py

test-deps: install system-deps fixtures

test: test-deps
	$(PY) -m pytest -q -ra

# torch 2.15's real headers (fetched by `make fixtures`): mamba's host file and one split kernel piece go through build's
# source rewrites and then c++/nvcc (-O0, sm_90), and the host file is shown to fail with upstream's -std=c++17. Needs nvcc,
# no GPU; part of `make test` too, skipped where nvcc is missing.
compile-proof: fixtures
	$(PY) -m pytest -q tests/test_build_new_torch.py -k compiles

lint:
	ruff check mambaenv tests benchmarks tools

bench: install fixtures
	$(PY) benchmarks/run_all.py

catalog:  # maintainers: regenerate the shipped catalog (releases.json; asset-lists.json too when LISTS_GIT is set)
	$(PY) tools/regen_catalog.py --mamba $(MAMBA_GIT) --causal $(CAUSAL_GIT) $(if $(LISTS_GIT),--lists $(LISTS_GIT)) --sdists $(or $(SDISTS),.fixture-cache/sdists)

astral-data:  # maintainers: regenerate mambaenv/catalog/data/astral.json from copies of astral-sh-build/build-mamba and build-causal-conv1d
	$(PY) tools/regen_astral.py --mamba $(ASTRAL_MAMBA) --causal $(ASTRAL_CAUSAL)

conda-forge-data:  # maintainers: regenerate mambaenv/catalog/data/conda-forge.json from git copies of the two conda-forge feedstocks
	$(PY) tools/regen_conda_forge.py --mamba $(CF_MAMBA_GIT) --causal $(CF_CAUSAL_GIT)
