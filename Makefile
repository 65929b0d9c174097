# The template's two commands: `make demo` and `make test`. Both create .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_DIR ?= build

.PHONY: demo test lock clean copier.yml

# uv makes every install, from the hashed locks: several times faster than pip. The
# uv on PATH if there is one; without it, the locked uv of the generated project
# (its requirements-build.txt, the same version as requirements-dev.txt's) is put
# into .venv with pip, once, hash-checked, and used from there.
ifndef UV
UV := $(or $(shell command -v uv 2>/dev/null),$(BIN)/uv)
endif
UV_PIP = $(UV) pip --quiet

# The pip of $(PYTHON) installs into .venv when it can (pip 22.3+), else the venv's own
# (ensurepip: about 3 s more).
$(BIN)/uv:
	@echo "uv is not on PATH: installing the locked uv into $(VENV) with pip (https://docs.astral.sh/uv/ makes this step unneeded)"
	$(PYTHON) -m venv --without-pip $(VENV)
	if $(PYTHON) -m pip --python $(BIN)/python --version >/dev/null 2>&1; then \
		pip="$(PYTHON) -m pip --python $(BIN)/python"; \
	else $(BIN)/python -m ensurepip --default-pip >/dev/null && pip="$(BIN)/python -m pip"; fi; \
	$$pip install --quiet --no-compile --require-hashes --no-deps --only-binary=:all: \
		-r "{{cookiecutter.project_slug}}/requirements-build.txt"

$(BIN)/python: | $(UV)
	test -x $@ || $(UV) venv --quiet --python $(PYTHON) $(VENV)

# make demo: cookiecutter alone (requirements-demo.txt), added to .venv; seconds, cold.
$(VENV)/.installed-demo: requirements-demo.txt | $(BIN)/python
	$(UV_PIP) install --python $(BIN)/python --require-hashes -r requirements-demo.txt
	touch $@

# make test, lock, copier.yml: .venv holds exactly requirements-dev.txt.
$(VENV)/.installed-dev: requirements-dev.txt | $(BIN)/python
	$(UV_PIP) sync --python $(BIN)/python --require-hashes requirements-dev.txt
	touch $@

## Render the template with its default answers and start the generated service on
## http://127.0.0.1:8080 (Ctrl-C stops it). Each version of the template renders once,
## into build/demo-DIGEST/ (a digest of the template's files): a second `make demo`
## starts that project again, and never renders over edits made in it. One worker
## unless WEB_CONCURRENCY says otherwise: each worker imports the app after the fork,
## on a listener of its own, so a first request waits for the slowest of them, and a
## demo serves one browser.
demo: $(VENV)/.installed-demo
	@project="$(DEMO_DIR)/demo-$$($(BIN)/python scripts/template_digest.py)/my-service"; \
	if [ -d "$$project" ]; then \
		echo "demo: $$project again (this template's render; edits there are kept)"; \
	else \
		$(BIN)/cookiecutter --no-input --output-dir "$${project%/my-service}" . >/dev/null || exit 1; \
		echo "demo: rendered into $$project"; \
	fi; \
	WEB_CONCURRENCY=$${WEB_CONCURRENCY:-1} $(MAKE) --no-print-directory -C "$$project" run UV="$(abspath $(UV))"

## Every test of the template: hooks, bakes of every answer, and each baked
## project's own suite. Its container tests skip without Docker unless
## REQUIRE_DOCKER=1; PYTHON_IMAGE picks their base image.
test: $(VENV)/.installed-dev
	$(BIN)/pytest

## Re-resolve requirements-dev.txt and requirements-demo.txt (exact versions, hashed).
LOCK = $(UV_PIP) compile --universal --python-version 3.11 --generate-hashes \
	--custom-compile-command "make lock"
lock: | $(UV)
	$(PYTHON) scripts/answer_locks.py render .locks
	$(LOCK) requirements-dev.in -o requirements-dev.txt
	$(LOCK) requirements-demo.in -o requirements-demo.txt

## Rewrite copier.yml's questions, checks and exclusions from cookiecutter.json and
## hooks/ (tests/test_copier.py fails while it is out of date).
copier.yml: $(VENV)/.installed-dev
	$(BIN)/python scripts/copier_config.py

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache
