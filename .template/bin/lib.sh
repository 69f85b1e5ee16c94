# Shared by the template's own commands: a Python 3.11+ with venv, and the
# template's virtualenv in .venv at the template root.

die() { echo "$(basename "$0"): $*" >&2; exit 1; }

TEMPLATE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VENV="$TEMPLATE_ROOT/.venv"

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else die "need root to run: $*"
  fi
}

# Python 3.11 or newer, able to make virtualenvs (Debian ships venv apart).
ensure_python() {
  command -v python3 >/dev/null || die "python3 is not installed: apt-get install python3 python3-venv"
  python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "Python 3.11 or newer is needed; python3 here is $(python3 -V 2>&1)"
  if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    command -v apt-get >/dev/null || die "python3 cannot make virtualenvs; install its venv module"
    echo "Installing python3-venv ..."
    as_root apt-get install -y python3-venv >/dev/null
  fi
}

# Debian packages for commands the tests run: COMMAND, or COMMAND:PACKAGE
# when the package has another name.
ensure_commands() {
  local missing=() spec
  for spec in "$@"; do
    command -v "${spec%%:*}" >/dev/null || missing+=("${spec##*:}")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    command -v apt-get >/dev/null || die "missing commands: ${missing[*]}"
    echo "Installing ${missing[*]} ..."
    as_root apt-get install -y "${missing[@]}" >/dev/null
  fi
}

# The template's own virtualenv in .venv: the development requirements, which
# hold Django (for django-admin), pytest and ruff. The Makefile's `setup`
# makes it, as in every project, and redoes it when the lock changes.
ensure_venv() {
  ensure_python
  ensure_commands make
  make --no-print-directory -C "$TEMPLATE_ROOT" setup PYTHON=python3
}
