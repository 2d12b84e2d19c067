#!/bin/sh
# Install Debian's prometheus package (the server and promtool, which the tests use) when promtool
# is missing and apt-get is there. The package's own service is kept from starting: the tests run
# their own server on a free port.
set -eu
command -v promtool >/dev/null 2>&1 && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
    echo "promtool not found and no apt-get: install Prometheus 2.x (server and promtool) to run the deploy tests" >&2
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "promtool not found: run 'apt-get install prometheus' as root (the deploy tests need it)" >&2
    exit 0
fi
policy=/usr/sbin/policy-rc.d
own_policy=no
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && own_policy=yes
fi
trap 'if [ "$own_policy" = yes ]; then rm -f "$policy"; fi' EXIT
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
echo "installed $(promtool --version 2>&1 | head -1)"
