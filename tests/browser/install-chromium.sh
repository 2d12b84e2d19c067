#!/bin/sh
# Install Debian's chromium package (headless, for the browser test of the bundle's index.html) when
# no chromium is on PATH.
exec sh "$(dirname "$0")/../install-when-absent.sh" chromium "the browser test of index.html" chromium fonts-dejavu-core
