#!/bin/sh
# Install on HOST what Ansible needs there: Python 3 with apt bindings, and sudo.
# Debian cloud images usually have them; minimal installs may not.
#   ./pre_requisits.sh HOST
set -eu
[ $# -eq 1 ] || { echo "usage: $0 HOST" >&2; exit 2; }
exec ssh "root@$1" \
  'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3 python3-apt sudo'
