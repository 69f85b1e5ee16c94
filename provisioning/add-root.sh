#!/bin/sh
# Let your SSH key log in as root on HOST, so Ansible and Fabric need no password.
#   ./add-root.sh HOST [PUBLIC_KEY_FILE]
# It asks for root's password once. Default key: ~/.ssh/id_ed25519.pub, else ~/.ssh/id_rsa.pub.
set -eu
[ $# -ge 1 ] || { echo "usage: $0 HOST [PUBLIC_KEY_FILE]" >&2; exit 2; }
key=${2:-}
if [ -z "$key" ]; then
  for candidate in "$HOME/.ssh/id_ed25519.pub" "$HOME/.ssh/id_rsa.pub"; do
    [ -f "$candidate" ] && { key=$candidate; break; }
  done
fi
[ -n "$key" ] && [ -f "$key" ] || { echo "$0: no public key found; make one with ssh-keygen -t ed25519" >&2; exit 1; }
exec ssh-copy-id -i "$key" "root@$1"
