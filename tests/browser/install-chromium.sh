#!/bin/sh
# Install Debian's chromium package (headless, for the browser test of the bundle's index.html) when
# no chromium is on PATH and apt-get is there; like deploy/prometheus/install-prometheus.sh for promtool.
set -eu
command -v chromium >/dev/null 2>&1 && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
    echo "chromium not found and no apt-get: install Chromium to run the browser test of index.html" >&2
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "chromium not found: run 'apt-get install chromium' as root (the browser test needs it)" >&2
    exit 0
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
echo "installed $(chromium --version 2>&1 | head -1)"
