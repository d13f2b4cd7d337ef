#!/bin/sh
# Generates the host key once (kept on a volume, so clients can pin it), then runs sshd.
set -eu
key=/etc/ssh/socle/keys/ssh_host_ed25519_key
[ -s "$key" ] || ssh-keygen -q -t ed25519 -N '' -f "$key"
# sshd refuses keys under a world-writable directory (/etc/socle is a 1777 tmpfs): copy them to
# the 0700 keys directory it owns.
install -m 0600 /etc/socle/authorized_keys /etc/ssh/socle/keys/authorized_keys
exec "$@"
