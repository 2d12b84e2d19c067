#!/bin/sh
# Install Debian's prometheus package (the server and promtool, which the deploy tests use) when
# promtool is missing.
exec sh "$(dirname "$0")/../../tests/install-when-absent.sh" promtool "the deploy tests" prometheus
