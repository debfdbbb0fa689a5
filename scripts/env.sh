# Sourced by scripts/serve and scripts/test: make .venv match a lock file, installing only when it changed.
# Usage: camcast_venv requirements.lock
camcast_venv() {
    local lock=$1 stamp=.venv/.installed-from
    local want
    want="$lock $(sha256sum "$lock" pyproject.toml | sha256sum | cut -c1-16)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        return 0
    fi
    if [ ! -x .venv/bin/python ]; then
        if ! python3 -m venv .venv 2>/dev/null; then
            # Debian ships venv separately from python3.
            as_root apt-get install -y -q python3-venv
            python3 -m venv .venv
        fi
    fi
    .venv/bin/python -m pip install -q --disable-pip-version-check --require-hashes -r "$lock"
    .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -e .
    echo "$want" > "$stamp"
}

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null; then sudo "$@"
    else echo "camcast: '$*' needs root; run it as root and try again" >&2; return 1
    fi
}
