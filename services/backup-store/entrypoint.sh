#!/bin/sh
# Generates the host key once (kept on a volume, so clients can pin it), then runs sshd.
set -eu
key=/etc/ssh/socle/keys/ssh_host_ed25519_key
[ -s "$key" ] || ssh-keygen -q -t ed25519 -N '' -f "$key"
exec "$@"
