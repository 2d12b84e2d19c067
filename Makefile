# The two commands of the README's quick start. Each creates .venv (once), installs the pinned
# dependencies of constraints.txt, and installs runnotary itself as a regular (non-editable)
# package, so the tests and the demo run exactly what a user would install.
PYTHON ?= python3
VENV ?= .venv
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -c constraints.txt '.[service,test]' 'setuptools>=77' wheel
	rm -f $(VENV)/.installed-*
	touch $@

.PHONY: demo test bench install package prometheus chromium screenshot
install: $(STAMP) package prometheus chromium

# promtool and the Prometheus server for the deploy tests (Debian's package, only when promtool is absent).
prometheus:
	@sh deploy/prometheus/install-prometheus.sh

# Headless Chromium for the browser test of a bundle's index.html (Debian's package, only when absent).
chromium:
	@sh tests/browser/install-chromium.sh

# The README's picture of a bundle page: a fresh demo's index.html, as headless Chromium shows it.
screenshot: $(STAMP) package chromium
	$(VENV)/bin/python -m tests.integration.browser docs/bundle-page.png

# Reinstall the project alone (dependencies untouched) from the working tree: a few seconds.
# setuptools builds in build/ and would ship a module deleted since the last build, so it starts clean.
package: $(STAMP)
	rm -rf build
	$(VENV)/bin/python -m pip install --quiet --no-deps --no-build-isolation --force-reinstall .

demo: $(STAMP) package
	$(VENV)/bin/runnotary demo

test: install
	$(VENV)/bin/pytest

bench: install
	$(VENV)/bin/python -m benchmarks.stats
