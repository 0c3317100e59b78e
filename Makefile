# mosquitto_ha.cluster: developer and CI entry points. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DISTROS ?= bookworm trixie
# scenario:distro[:access] runs of `make molecule`, in order. access is docker (the default: docker connection as
# root, collection from the checkout) or ssh (the operator's path, molecule/default only: the installed tarball
# run by an unprivileged local user over SSH as a sudo user; scripts/operator-path.sh). failover also passes on
# trixie (MOLECULE_RUNS=failover:trixie); it is left out of the default list to keep CI well under its 90 min.
MOLECULE_RUNS ?= default:bookworm default:trixie:ssh failover:bookworm scale_out:bookworm
# Lanes of runs at once (scripts/molecule-runs.sh): the runs of one scenario share its container names and go one
# after the other in one lane. `make test` adds the preflight tests as a run of their own, beside molecule.
export MOLECULE_JOBS ?= 2
LINK := .collections/ansible_collections/mosquitto_ha/cluster
# ansible-test wants the collection at a real ansible_collections/<namespace>/<name> path (it resolves the
# .collections link to the checkout and refuses it): `make sanity` tests a copy of the checkout's files there.
SANITY_TREE := .cache/sanity/ansible_collections/mosquitto_ha/cluster
# Python of the sanity run: the venv's. ansible-test --venv keeps the sanity tools in virtual environments of its
# own (under ~/.ansible/test/), made on the first run and reused afterwards.
SANITY_PYTHON ?= $(shell $(BIN)/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')

export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/.collections
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(BIN)/ansible-playbook: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	@touch $@

$(LINK):
	mkdir -p $(dir $(LINK))
	ln -sfn ../../.. $(LINK)

.PHONY: venv
venv: $(BIN)/ansible-playbook $(LINK) ## create .venv with the pinned tools and link the collection

.PHONY: docker
docker: ## make sure a Docker engine runs (installs Debian's docker.io if absent)
	./scripts/ensure-docker.sh

.PHONY: images
images: docker ## build the systemd test images (Debian 12 and 13) without a registry
	./scripts/build-images.sh $(DISTROS)

.PHONY: lint
lint: venv ## yamllint, ansible-lint (production profile), role variable tables current
	$(BIN)/yamllint -s .
	$(BIN)/ansible-lint
	$(BIN)/python scripts/role_docs.py --check

.PHONY: docs
docs: venv ## regenerate the role READMEs' variable tables from meta/argument_specs.yml
	$(BIN)/python scripts/role_docs.py

.PHONY: unit
unit: venv ## unit tests of the plugins, role docs, tarball and bench helpers
	$(BIN)/pytest -q tests/unit

.PHONY: sanity
sanity: venv ## ansible-test sanity of the collection (pep8, pylint, validate-modules, ...)
	rm -rf .cache/sanity && mkdir -p $(SANITY_TREE)
	git ls-files -z --cached --others --exclude-standard | grep -zv '^\.venv$$' \
	  | tar --null --ignore-failed-read -T - -cf - 2>/dev/null | tar -C $(SANITY_TREE) -xf -
	# ansible-test bootstraps pip into its virtual environments with a get-pip.py it downloads from a host that is
	# no package registry; a stand-in that uses Python's own ensurepip takes the place of its cached copy.
	pip=$$($(BIN)/python -c "from types import SimpleNamespace as S; from ansible_test._internal.python_requirements \
	  import get_venv_packages as g; print(g(S(version='$(SANITY_PYTHON)'))['pip'])"); \
	cache=$$HOME/.ansible/test/cache/get_pip_$${pip//./_}.py; \
	[ -s "$$cache" ] || { mkdir -p "$$(dirname "$$cache")" && cp scripts/ansible-test-get-pip.py "$$cache"; }
	# ansible-test lists the files to test with git: the copy is a repository of its own (the checkout ignores it).
	cd $(SANITY_TREE) && git init -q && git add -A && ansible-test sanity --venv --python $(SANITY_PYTHON) --color no $(SANITY_ARGS)

.PHONY: preflight
preflight: venv ## bad inventories are refused before any host is touched
	$(BIN)/pytest -q tests/preflight

.PHONY: molecule
molecule: venv images ## molecule test of each scenario:distro in MOLECULE_RUNS, MOLECULE_JOBS lanes at once
	./scripts/molecule-runs.sh $(MOLECULE_RUNS)

.PHONY: build
build: venv ## build the collection tarball
	$(BIN)/ansible-galaxy collection build --force

.PHONY: test
test: lint unit sanity build images ## everything CI runs: lint, unit and sanity tests, build, then preflight beside molecule
	./scripts/molecule-runs.sh make:preflight $(MOLECULE_RUNS)

.PHONY: lab
lab: venv docker ## stand up the 5-container lab cluster and print how to connect
	./scripts/lab.sh up

.PHONY: lab-down
lab-down: ## remove the lab containers, network and generated secrets
	./scripts/lab.sh down

.PHONY: bench
bench: venv docker ## benchmarks against the lab: writes BENCHMARKS.md and bench/plots/ (not part of make test)
	$(BIN)/pip install --quiet -r bench/requirements.txt
	command -v mosquitto_pub >/dev/null || { apt-get update -qq && apt-get install -y -qq mosquitto-clients; }
	$(BIN)/python bench/run.py $(BENCH_ARGS)

.PHONY: clean
clean: ## remove the virtual environment and build output
	rm -rf $(VENV) .collections *.tar.gz
