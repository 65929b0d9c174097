# The template's two commands: `make demo` and `make test`. Both create .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_DIR ?= build

.PHONY: demo test lock clean copier.yml

$(BIN)/cookiecutter: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r requirements-dev.txt
	touch $@

## Render the template with its default answers into build/, then start the
## generated service on http://127.0.0.1:8080 (Ctrl-C stops it).
demo: $(BIN)/cookiecutter
	$(BIN)/cookiecutter --no-input --overwrite-if-exists --output-dir $(DEMO_DIR) .
	$(MAKE) -C $(DEMO_DIR)/my-service run

## Every test of the template: hooks, bakes of every answer, and each baked
## project's own suite. Its container tests skip without Docker unless
## REQUIRE_DOCKER=1; PYTHON_IMAGE picks their base image.
test: $(BIN)/cookiecutter
	$(BIN)/pytest

## Re-resolve requirements-dev.txt with the uv of .venv (never the system's Python).
lock: $(BIN)/cookiecutter
	$(BIN)/uv pip compile requirements-dev.in --universal --python-version 3.11 \
		--generate-hashes --custom-compile-command "make lock" --quiet -o requirements-dev.txt

## Rewrite copier.yml's questions, checks and exclusions from cookiecutter.json and
## hooks/ (tests/test_copier.py fails while it is out of date).
copier.yml: $(BIN)/cookiecutter
	$(BIN)/python scripts/copier_config.py

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache
