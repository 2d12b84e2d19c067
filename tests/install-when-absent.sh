#!/bin/sh
# Usage: install-when-absent.sh COMMAND PURPOSE PACKAGE...
# Install Debian's PACKAGEs when COMMAND is not on PATH and apt-get is there (as root); otherwise say
# what PURPOSE needs and exit 0, so `make install` goes on. Package services are kept from starting
# while installing: the tests run their own servers on free ports.
set -eu
command=$1 purpose=$2
shift 2
command -v "$command" >/dev/null 2>&1 && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
    echo "$command not found and no apt-get: install $* to run $purpose" >&2
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "$command not found: run 'apt-get install $*' as root ($purpose needs it)" >&2
    exit 0
fi
policy=/usr/sbin/policy-rc.d
own_policy=no
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && own_policy=yes
fi
trap 'if [ "$own_policy" = yes ]; then rm -f "$policy"; fi' EXIT
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
echo "installed $("$command" --version 2>/dev/null | head -1)"
