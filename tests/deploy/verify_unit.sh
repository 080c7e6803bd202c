#!/bin/sh
# systemd-analyze verify on the unit, in a test root where its ExecStart exists.
set -eu
unit=$1
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/bin" "$root/etc/systemd/system" "$root/usr/lib/systemd"
# The root needs the standard targets the unit is ordered against.
cp -r /usr/lib/systemd/system "$root/usr/lib/systemd/system"
printf '#!/bin/sh\nexit 0\n' > "$root/usr/bin/lorad"
chmod +x "$root/usr/bin/lorad"
cp "$unit" "$root/etc/systemd/system/lorad.service"
out=$(SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --root="$root" --man=no \
  "$root/etc/systemd/system/lorad.service" 2>&1) || { echo "$out"; exit 1; }
# verify prints problems as warnings without failing for some of them: treat any
# line about our unit as a failure.
if printf '%s\n' "$out" | grep -i 'lorad.service' ; then exit 1; fi
echo "systemd-analyze verify: OK"
