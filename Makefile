# Telebridge — two commands on a fresh machine:
#   make demo   set up, migrate, seed the demo network and serve it at http://127.0.0.1:8000
#   make test   set up and run the whole test suite
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
VENDOR := src/telebridge/static/vendor
export TELEBRIDGE_DATABASE_URL ?= sqlite+aiosqlite:///var/telebridge.db
export TELEBRIDGE_FILES_DIR ?= var/files

.PHONY: setup demo serve test system-deps vendor catalogs bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# Front-end packages from the npm registry (package.json + lock), copied into static/vendor.
# dwv (the DICOM viewer) and its dependencies (konva, jszip, magic-wand-tool) become one ES module
# (esbuild, a devDependency), so pages need no import map under the strict script-src 'self'.
# Its decoders (JPEG, JPEG 2000, RLE) are module web workers; dwv resolves them against the page's
# base URL, the define makes it resolve them next to the module (static/vendor/dwv/assets/workers).
$(VENDOR)/.stamp: package.json package-lock.json
	npm ci --silent --no-audit --no-fund
	mkdir -p $(VENDOR)/dwv/assets/workers
	cp node_modules/htmx.org/dist/htmx.min.js $(VENDOR)/htmx.min.js
	node_modules/.bin/esbuild node_modules/dwv/dist/dwv.min.js --bundle --format=esm --minify --target=es2022 \
	  --define:document.baseURI=import.meta.url --legal-comments=external --log-level=warning \
	  --outfile=$(VENDOR)/dwv/dwv.js
	cp node_modules/dwv/dist/assets/workers/*.worker.min.js $(VENDOR)/dwv/assets/workers/
	cp node_modules/dwv/license.txt $(VENDOR)/dwv/LICENSE.txt
	touch $@

vendor: $(VENDOR)/.stamp

catalogs: $(STAMP)
	$(BIN)/python -m telebridge.kit.i18n compile

setup: $(STAMP) vendor catalogs

# Debian packages the tests need: chromium (browser tests), janus (SFU), orthanc + its DICOMweb
# plugin (PACS peer), poppler-utils (PDF previews of the minutes). Installed in one step when
# missing and we may (root); otherwise those tests skip with a clear reason (never on CI).
DEBS := chromium:/usr/bin/chromium fonts-noto-core:/usr/share/fonts/truetype/noto janus:/usr/bin/janus \
        janus-tools:/usr/bin/janus-pp-rec \
        orthanc:/usr/sbin/Orthanc orthanc-dicomweb:/usr/share/orthanc/plugins/libOrthancDicomWeb.so \
        poppler-utils:/usr/bin/pdftoppm
system-deps:
	@missing=""; for d in $(DEBS); do [ -e "$${d#*:}" ] || missing="$$missing $${d%%:*}"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	    service orthanc stop >/dev/null 2>&1 || true; \
	  else echo "note: missing Debian packages:$$missing (not root); the tests needing them will skip"; fi; \
	fi

demo: setup
	mkdir -p var
	$(BIN)/telebridge migrate
	$(BIN)/telebridge demo --facilities $${FACILITIES:-1000}
	$(BIN)/telebridge serve --host 127.0.0.1 --port 8000

serve: setup
	$(BIN)/telebridge serve --host 127.0.0.1 --port 8000

test: setup system-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: setup
	$(BIN)/python bench/seed.py

clean:
	rm -rf $(VENV) node_modules $(VENDOR) var .pytest_cache test-artifacts
