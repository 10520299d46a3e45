# Two commands for a fresh machine with only Python and make: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
INFRA_STAMP := $(VENV)/.infra-installed
# web/: the typed API client (and, later, the web apps). Its packages come from the npm registry only.
WEB := web
WEB_STAMP := $(WEB)/node_modules/.installed
NO_NODE = ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1
# Test files are spread over PYTEST_WORKERS processes (pytest-xdist); a file's tests stay in one process, so
# module fixtures and the e2e stack of a process are shared as before. PYTEST_WORKERS=0 runs in one process.
PYTEST_WORKERS ?= 2
PYTEST := $(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile

.PHONY: run test fuzz test-contended lint bench install clean infra-check web-install web-check api-client openapi \
	fonts pdf-tools

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $(STAMP)

install: $(STAMP)

# The receipt font: a pinned npm package (checked by SHA-256), subset with fontTools to a fixed character set
# into chalicelib/fonts/ (gitignored, generated; the Lambda package carries everything under chalicelib/).
# Needs npm the first time; npm's cache serves later builds. See tools/receipt_font.py.
RECEIPT_FONT := chalicelib/fonts/NotoSansSC-Receipt.ttf
$(RECEIPT_FONT): tools/receipt_font.py chalicelib/adapters/receipts.py $(STAMP)
	$(PY) -m tools.receipt_font $@

fonts: $(RECEIPT_FONT)

# pdffonts and pdftotext (Debian's poppler-utils), which the receipt tests read PDFs with, installed with
# apt-get when missing (CI runs as root); elsewhere a message, and those tests skip outside CI.
pdf-tools:
	@if ! command -v pdffonts >/dev/null 2>&1 || ! command -v pdftotext >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "Installing poppler-utils (pdffonts, pdftotext) with apt-get"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
				poppler-utils >/dev/null; \
		else \
			echo "pdf-tools: poppler-utils is not installed (needs root and apt-get); the pdffonts tests skip"; \
		fi; \
	fi

# Data is kept in .devstack/ across runs; `make run FRESH=1` starts empty.
run: $(STAMP) web-install fonts
	$(PY) -m devstack $(if $(FRESH),--fresh)

test: $(STAMP) fonts pdf-tools infra-check web-check
	$(PY) -m ruff check .
	$(PYTEST)

# `make test` runs the API fuzz (tests/e2e/test_fuzz.py) with a few examples per operation; this runs only it,
# harder (FUZZ_EXAMPLES per operation and mode, same derandomized inputs on every run for a given number).
FUZZ_EXAMPLES ?= 50
fuzz: $(STAMP)
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest -q tests/e2e/test_fuzz.py

# The same suite on a deliberately contended CPU, to show it does not depend on the machine being fast or idle:
# CONTENDERS busy-loop processes run beside it and stop when it ends, however it ends (tests/contend.py).
# CONTENDED_NICE > 0 also lowers the suite's own priority. Slow on purpose; not part of every CI run.
CONTENDERS ?= 2
CONTENDED_NICE ?= 0
test-contended: $(STAMP)
	$(PY) -m tests.contend --workers $(CONTENDERS) --nice $(CONTENDED_NICE) -- $(PYTEST)

$(INFRA_STAMP): $(STAMP) infra/requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r infra/requirements.txt
	@touch $(INFRA_STAMP)

# Synthesize (app code only: no dependency download, no AWS account), lint the template, run the template tests.
# Needs Node.js for the CDK runtime; without it the step is skipped with a message (CI always has it).
infra-check: $(STAMP) fonts
	@if ! command -v node >/dev/null 2>&1; then \
		echo "infra-check skipped: Node.js is not installed (the CDK runtime needs it)"; \
	else \
		$(MAKE) --no-print-directory $(INFRA_STAMP) && \
		rm -rf infra/cdk.out infra/chalice.out && \
		(cd infra && AWS_DEFAULT_REGION=us-east-1 CDK_CONTEXT_JSON='{"stage": "dev", "package": "app-only"}' \
			../$(PY) cdk_app.py) && \
		$(VENV)/bin/cfn-lint --non-zero-exit-code error infra/cdk.out/*.template.json && \
		$(PY) -m pytest infra/tests -q -p no:cacheprovider; \
	fi

# npm ci installs exactly the lock file (web/.npmrc: no install scripts, no audit or funding requests).
$(WEB_STAMP): $(WEB)/package.json $(WEB)/package-lock.json
	@echo "Installing web/ packages from web/package-lock.json (npm ci)"
	@cd $(WEB) && npm ci --no-audit --no-fund --loglevel=error >/dev/null
	@touch $(WEB_STAMP)

# web/node_modules for `make run` (the API reference page) when Node.js is there; without it, a message.
web-install:
	@if $(NO_NODE); then \
		echo "web packages not installed: Node.js (node and npm) is not installed; the API reference page is off"; \
	else \
		$(MAKE) -s --no-print-directory $(WEB_STAMP); \
	fi

# Rebuild docs/openapi.json from the route table and the views' contracts, then the typed client from it.
openapi: $(STAMP)
	$(PY) -m chalicelib.api.openapi
	@if $(NO_NODE); then echo "web/src/api/schema.d.ts not regenerated: Node.js is not installed"; else $(MAKE) -s --no-print-directory api-client; fi

# Regenerate the typed client's types (web/src/api/schema.d.ts) from docs/openapi.json; commit the result.
api-client:
	@if $(NO_NODE); then echo "api-client needs Node.js (node and npm), which is not installed" >&2; exit 1; fi
	@$(MAKE) -s --no-print-directory $(WEB_STAMP)
	cd $(WEB) && npm run --silent gen:api

# The committed schema.d.ts matches docs/openapi.json, and web/src type-checks (strict) against it.
web-check:
	@if $(NO_NODE); then \
		echo "web-check skipped: Node.js (node and npm) is not installed (the typed API client needs it)"; \
	else \
		$(MAKE) -s --no-print-directory $(WEB_STAMP) && \
		fresh=$$(mktemp) && \
		(cd $(WEB) && npm run --silent api:types) > $$fresh && \
		if ! cmp -s $$fresh $(WEB)/src/api/schema.d.ts; then \
			rm -f $$fresh; \
			echo "web/src/api/schema.d.ts is stale: docs/openapi.json changed. Run: make api-client (and commit it)" >&2; \
			exit 1; \
		fi && \
		rm -f $$fresh && \
		(cd $(WEB) && npm run --silent typecheck) && \
		echo "web-check: schema.d.ts is current; web/src type-checks"; \
	fi

lint: $(STAMP)
	$(PY) -m ruff check .

# Benchmarks (bench/<name>.py; BENCH="name ..." runs only those and keeps the file's other sections).
# `make bench` runs quick mode (minutes) into bench/results/benchmarks.md, which is not tracked; MODE=full
# (BENCH_MODE=full, or `make bench-full`) runs the full sizes there; `make bench-docs` runs full mode into
# docs/benchmarks.md, the documented figures (commit that file only when the figures are meant to change).
.PHONY: bench-full bench-docs
MODE ?= $(or $(BENCH_MODE),quick)
BENCH ?=
bench: $(STAMP)
	$(PY) -m bench --mode $(MODE) $(BENCH)

bench-full: $(STAMP)
	$(PY) -m bench --mode full $(BENCH)

bench-docs: $(STAMP)
	$(PY) -m bench --mode full --docs $(BENCH)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache infra/cdk.out infra/chalice.out $(WEB)/node_modules $(WEB)/dist
