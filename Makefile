# soar.partman: the two set-up commands are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
COLLECTION_LINK := .collections/ansible_collections/soar/partman
SUITES ?= bookworm trixie
SCENARIOS ?= $(sort $(notdir $(patsubst %/molecule.yml,%,$(wildcard molecule/*/molecule.yml))))
export PATH := $(CURDIR)/$(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/.collections
export ANSIBLE_ROLES_PATH := $(CURDIR)/tests/fixtures/roles
export ANSIBLE_FORCE_COLOR ?= 0
export PY_COLORS ?= 0

.PHONY: help host venv collection images images-db unit lint sanity molecule test demo demo-clean bench clean

help:
	@echo "make demo   - start a demo host, load a SOAR-like database, run playbooks/migrate.yml"
	@echo "make test   - unit tests, ansible-lint, ansible-test sanity, molecule on bookworm and trixie"
	@echo "make images - build the local systemd test-host images (debootstrap + docker import)"
	@echo "make bench  - benchmarks under bench/ (print figures)"

# Docker, debootstrap, shellcheck, python3-venv: installed and started when missing (as root).
host:
	@tests/host-setup.sh

$(BIN)/ansible-playbook: requirements.txt | host
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	touch $@

venv: $(BIN)/ansible-playbook

# The repository root is the collection; Ansible finds it through this link.
collection: $(COLLECTION_LINK)
$(COLLECTION_LINK):
	mkdir -p $(dir $@)
	ln -sfn ../../.. $@

# Both suites at once: debootstrap mostly waits on the mirror.
images: host
	@pids=; for suite in $(SUITES); do tests/images/build.sh $$suite & pids="$$pids $$!"; done; \
	 rc=0; for p in $$pids; do wait $$p || rc=1; done; exit $$rc

# The scenarios but provision start from images with PostgreSQL and PostGIS installed already.
images-db: images
	@pids=; for suite in $(SUITES); do tests/images/bake.sh $$suite & pids="$$pids $$!"; done; \
	 rc=0; for p in $$pids; do wait $$p || rc=1; done; exit $$rc

unit: venv collection
	$(BIN)/pytest -q tests/unit

lint: venv collection
	$(BIN)/ansible-lint

sanity: venv
	tests/sanity.sh

# Every scenario runs even when one fails; the failed ones are listed at the end, each with a digest
# of why (tests/molecule.sh).
molecule: venv collection images-db
	tests/molecule.sh $(SCENARIOS)

test: unit lint sanity molecule

# The demo host runs bookworm only: the trixie image is not built for it.
demo: venv collection
	$(MAKE) images SUITES=$${DEMO_SUITE:-bookworm}
	tests/demo.sh

demo-clean:
	-docker rm -f soar-partman-demo

bench: venv collection
	$(MAKE) images SUITES=$${BENCH_SUITE:-bookworm}
	bench/run.sh

clean: demo-clean
	rm -rf $(VENV) .collections build .cache
