# shellcheck shell=bash
# Sourced by ./build-root and ./testssl: where they fetch Debian's packages from.

mirror() {
  # The Debian mirror this machine's apt already uses.
  local uri
  uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2> /dev/null || true)
  [ -n "$uri" ] || uri=$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list 2> /dev/null || true)
  echo "${uri:-http://deb.debian.org/debian}"
}
