#!/usr/bin/env bash
# Install, upgrade or remove ugs-gateway as a systemd service on a field unit.
# Run `systemd/install.sh --help` for the options; docs/technician.md walks through it.
set -euo pipefail

readonly SERVICE=ugs-gateway
readonly SERVICE_USER=ugs-gateway
readonly UNIT_NAME=ugs-gateway.service
readonly WRAPPER_MARK="# ugs-gateway CLI wrapper, installed by systemd/install.sh"

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROOT=""
ACTION=install
PURGE=0
START=1
VENV_FROM=""
WHEELHOUSE=""
PYTHON=python3
CONFIG_EXAMPLE=""

usage() {
    cat <<EOF
Usage: systemd/install.sh [OPTIONS]

Installs ugs-gateway from this source tree as the systemd service $UNIT_NAME:
a virtualenv in /opt/$SERVICE (the package and its pinned dependencies), the
system user $SERVICE_USER (in group dialout), /etc/$SERVICE/gateway.toml from
systemd/config.example.toml unless it exists, the unit in /etc/systemd/system,
and a warm Numba cache (compiled as the service user). Then it enables and
(re)starts the service. Running it again upgrades: config, state (the outbox,
the boot counter) and recordings are kept; the previous virtualenv is kept for
a rollback until the next upgrade.

Options:
  --no-start           install and enable, but do not start or restart
  --uninstall          stop, disable and remove the unit and /opt/$SERVICE;
                       keeps /etc/$SERVICE and /var/lib/$SERVICE (config, outbox)
  --purge              with --uninstall: also delete the config, the state and
                       its undelivered detections, and the user
  --root DIR           install into the tree DIR (paths prefixed by DIR) without
                       touching the system: no users, no chown, no systemctl
                       (printed instead); the warm-up runs as the current user
  --venv-from DIR      use the existing virtualenv DIR (with ugs-gateway
                       installed) instead of building one; for tests and for
                       units that share a prepared venv
  --wheelhouse DIR     install packages from wheels in DIR only (no index):
                       for units without internet access
  --python PATH        interpreter for the virtualenv (default python3, >= 3.11)
  --config-example F   config installed when none exists
                       (default: systemd/config.example.toml)
  -h, --help           show this help

Must run as root, except with --root.
EOF
}

die() {
    echo "install.sh: error: $*" >&2
    exit 1
}

note() {
    echo "==> $*"
}

# A command that changes the system outside the install tree: printed under --root.
sys() {
    if [[ -n "$ROOT" ]]; then
        echo "would run: $*"
    else
        "$@"
    fi
}

while [[ $# -gt 0 ]]; do
    case "$1" in
        --no-start) START=0 ;;
        --uninstall) ACTION=uninstall ;;
        --purge) PURGE=1 ;;
        --root)
            [[ $# -ge 2 ]] || die "--root needs a directory"
            ROOT="$2"
            shift
            ;;
        --venv-from)
            [[ $# -ge 2 ]] || die "--venv-from needs a directory"
            VENV_FROM="$2"
            shift
            ;;
        --wheelhouse)
            [[ $# -ge 2 ]] || die "--wheelhouse needs a directory"
            WHEELHOUSE="$2"
            shift
            ;;
        --python)
            [[ $# -ge 2 ]] || die "--python needs a path"
            PYTHON="$2"
            shift
            ;;
        --config-example)
            [[ $# -ge 2 ]] || die "--config-example needs a file"
            CONFIG_EXAMPLE="$2"
            shift
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        *) die "unknown option '$1' (see --help)" ;;
    esac
    shift
done

if [[ "$PURGE" -eq 1 && "$ACTION" != uninstall ]]; then
    die "--purge only goes with --uninstall"
fi
if [[ -n "$ROOT" ]]; then
    mkdir -p "$ROOT"
    ROOT="$(cd "$ROOT" && pwd)"
    [[ "$ROOT" != / ]] || die "--root / is the system itself: leave --root out"
elif [[ "$(id -u)" -ne 0 ]]; then
    die "run as root (sudo systemd/install.sh), or use --root DIR for a trial tree"
else
    for tool in systemctl setpriv useradd; do
        command -v "$tool" >/dev/null || die "$tool not found: this needs a systemd system (util-linux, passwd)"
    done
fi

# Paths as the service sees them, and as this script writes them (prefixed by --root).
readonly OPT_REAL="/opt/$SERVICE"
readonly CONFIG_DIR_REAL="/etc/$SERVICE"
readonly STATE_DIR_REAL="/var/lib/$SERVICE"
readonly CACHE_DIR_REAL="/var/cache/$SERVICE"
readonly NUMBA_CACHE_REAL="$CACHE_DIR_REAL/numba"
readonly OPT="$ROOT$OPT_REAL"
readonly CONFIG_DIR="$ROOT$CONFIG_DIR_REAL"
readonly CONFIG="$CONFIG_DIR/gateway.toml"
readonly STATE_DIR="$ROOT$STATE_DIR_REAL"
readonly CACHE_DIR="$ROOT$CACHE_DIR_REAL"
readonly NUMBA_CACHE="$ROOT$NUMBA_CACHE_REAL"
readonly UNIT="$ROOT/etc/systemd/system/$UNIT_NAME"
readonly WRAPPER="$ROOT/usr/local/bin/$SERVICE"

# Runs a command as the service user with the service's Numba cache, from a directory it
# can read. Under --root there is no such user: the current one stands in.
as_service_user() {
    if [[ -n "$ROOT" ]]; then
        (cd / && env NUMBA_CACHE_DIR="$NUMBA_CACHE" "$@")
    else
        (cd / && setpriv --reuid="$SERVICE_USER" --regid="$SERVICE_USER" --init-groups \
            -- env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$STATE_DIR_REAL" \
            LANG=C.UTF-8 NUMBA_CACHE_DIR="$NUMBA_CACHE_REAL" "$@")
    fi
}

# Owner changes only make sense on the real system (the user exists only there). Never
# through a symbolic link (-h): the link itself would change owner, not what it points at.
own() {
    local owner="$1"
    shift
    if [[ -z "$ROOT" ]]; then
        chown -h "$owner" "$@"
    fi
}

# The service owns its state and cache directories, so a compromised service can put
# symbolic links there; root must never follow one (it could be made to hand /etc/shadow to
# the service, or overwrite it). So root only creates the directories themselves (their
# parents are root's) and refuses a link in their place; everything inside the cache is
# created and written by the service user, who can only reach what it could reach anyway.
refuse_link() {
    local path
    for path in "$@"; do
        if [[ -L "$path" ]]; then
            die "$path is a symbolic link (to $(readlink "$path")); the service's directories must not hold links where install.sh works: remove it and run install.sh again"
        fi
    done
}

is_our_wrapper() {
    [[ -f "$WRAPPER" ]] && grep -qF "$WRAPPER_MARK" "$WRAPPER"
}

unit_is_active() {
    [[ -z "$ROOT" ]] && systemctl is-active --quiet "$UNIT_NAME"
}

create_user() {
    if [[ -n "$ROOT" ]]; then
        echo "would run: groupadd --system $SERVICE_USER; useradd --system" \
            "--gid $SERVICE_USER --groups dialout --home-dir $STATE_DIR_REAL" \
            "--no-create-home --shell /usr/sbin/nologin $SERVICE_USER"
        return
    fi
    getent group dialout >/dev/null || groupadd --system dialout
    getent group "$SERVICE_USER" >/dev/null || groupadd --system "$SERVICE_USER"
    if id -u "$SERVICE_USER" >/dev/null 2>&1; then
        usermod --append --groups dialout "$SERVICE_USER"
    else
        useradd --system --gid "$SERVICE_USER" --groups dialout \
            --home-dir "$STATE_DIR_REAL" --no-create-home --shell /usr/sbin/nologin \
            --comment "UGS gateway service" "$SERVICE_USER"
        note "created system user $SERVICE_USER (groups: $SERVICE_USER, dialout)"
    fi
}

make_dirs() {
    install -d -m 0755 "$OPT" "$OPT/venvs" "$OPT/docs" "$CONFIG_DIR" \
        "$(dirname "$UNIT")" "$(dirname "$WRAPPER")"
    refuse_link "$STATE_DIR" "$CACHE_DIR"
    install -d -m 0750 "$STATE_DIR" "$CACHE_DIR"
    own "$SERVICE_USER:$SERVICE_USER" "$STATE_DIR" "$CACHE_DIR"
    refuse_link "$NUMBA_CACHE" "$CACHE_DIR/warmup.json"
    as_service_user mkdir -p -m 0750 "$NUMBA_CACHE"
}

# The unit's report signing key (docs/signing.md): made once, kept across upgrades.
make_signing_key() {
    local venv="$1" key="$CONFIG_DIR/signing.key" line
    refuse_link "$key"
    if [[ -e "$key" ]]; then
        return
    fi
    line="$("$venv/bin/$SERVICE" --log-level WARNING key generate "$key")" ||
        die "could not make the signing key $CONFIG_DIR_REAL/signing.key"
    own "root:$SERVICE_USER" "$key"
    note "made the report signing key $CONFIG_DIR_REAL/signing.key; partners need its public half:"
    note "  ${line/ NODE / <node id> } (ugs-gateway key public -c $CONFIG_DIR_REAL/gateway.toml)"
}

check_python() {
    "$PYTHON" - <<'EOF' || die "$PYTHON must be Python >= 3.11 with the venv module (apt-get install python3-venv)"
import sys, venv, ensurepip  # noqa: F401
sys.exit(0 if sys.version_info >= (3, 11) else 1)
EOF
}

# Prints the directory of the virtualenv to switch to.
prepare_venv() {
    if [[ -n "$VENV_FROM" ]]; then
        local venv
        venv="$(cd "$VENV_FROM" && pwd)" || die "--venv-from $VENV_FROM: no such directory"
        [[ -x "$venv/bin/$SERVICE" ]] ||
            die "--venv-from $venv: no bin/$SERVICE in it (pip install the package there first)"
        echo "$venv"
        return
    fi
    check_python
    local version id new
    version="$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$SRC/pyproject.toml" | head -n1)"
    id="${version:-unknown}-$(date -u +%Y%m%dT%H%M%SZ)"
    while [[ -e "$OPT/venvs/$id" ]]; do
        id="$id+"
    done
    new="$OPT/venvs/$id"
    note "building the virtualenv $OPT_REAL/venvs/$id (pip install of $SRC)" >&2
    local pip_args=(--no-cache-dir --disable-pip-version-check --quiet)
    if [[ -n "$WHEELHOUSE" ]]; then
        pip_args+=(--no-index --find-links "$WHEELHOUSE")
    fi
    if ! "$PYTHON" -m venv "$new" >&2 || ! "$new/bin/pip" install "${pip_args[@]}" "$SRC" >&2; then
        rm -rf "$new"
        die "building the virtualenv failed (see pip's output above); nothing was changed"
    fi
    echo "$new"
}

# The path the `venv` link should hold: relative inside /opt, so a --root tree is
# self-contained; absolute for a borrowed venv.
link_target() {
    local venv="$1"
    if [[ "$venv" == "$OPT/venvs/"* ]]; then
        echo "venvs/${venv#"$OPT/venvs/"}"
    else
        echo "$venv"
    fi
}

switch_venv() {
    local target="$1"
    if [[ -d "$OPT/venv" && ! -L "$OPT/venv" ]]; then
        mv "$OPT/venv" "$OPT/venvs/previous-$(date -u +%Y%m%dT%H%M%SZ)"
    fi
    ln -sfn "$target" "$OPT/venv.new"
    mv -T "$OPT/venv.new" "$OPT/venv"
}

# Keeps the current virtualenv and the one before it (for a rollback).
prune_venvs() {
    local current="$1" previous="$2" dir
    for dir in "$OPT/venvs"/*; do
        [[ -e "$dir" ]] || continue
        case "venvs/$(basename "$dir")" in
            "$current" | "$previous") ;;
            *) rm -rf "$dir" ;;
        esac
    done
}

install_config() {
    install -m 0644 "$CONFIG_EXAMPLE" "$CONFIG_DIR/gateway.toml.example"
    if [[ -e "$CONFIG" ]]; then
        note "keeping the existing $CONFIG_DIR_REAL/gateway.toml"
        return
    fi
    install -m 0640 "$CONFIG_EXAMPLE" "$CONFIG"
    own "root:$SERVICE_USER" "$CONFIG"
    note "installed $CONFIG_DIR_REAL/gateway.toml from the example: edit it (node id, site, sensors, uplinks)"
}

install_wrapper() {
    if [[ -e "$WRAPPER" ]] && ! is_our_wrapper; then
        note "leaving $WRAPPER alone (not ours); use $OPT_REAL/venv/bin/$SERVICE"
        return
    fi
    cat >"$WRAPPER.new" <<EOF
#!/bin/sh
$WRAPPER_MARK
# Runs the gateway's commands with the service's Numba cache and, when called by root, as
# the service user, so that files they create in the state directory (the outbox's SQLite
# journal) stay usable by the service.
export NUMBA_CACHE_DIR=$NUMBA_CACHE_REAL
if [ "\$(id -u)" -eq 0 ]; then
    exec setpriv --reuid=$SERVICE_USER --regid=$SERVICE_USER --init-groups -- $OPT_REAL/venv/bin/$SERVICE "\$@"
fi
exec $OPT_REAL/venv/bin/$SERVICE "\$@"
EOF
    chmod 0755 "$WRAPPER.new"
    mv -f "$WRAPPER.new" "$WRAPPER"
}

do_install() {
    local example="${CONFIG_EXAMPLE:-$SRC/systemd/config.example.toml}"
    [[ -f "$SRC/pyproject.toml" ]] || die "$SRC is not the ugs-gateway source tree (no pyproject.toml)"
    [[ -f "$SRC/systemd/$UNIT_NAME" ]] || die "$SRC/systemd/$UNIT_NAME is missing"
    [[ -f "$example" ]] ||
        die "the example config $example is missing from the source tree; it is the config a new unit starts from"
    CONFIG_EXAMPLE="$example"

    create_user
    make_dirs

    local new_venv old_target="" new_target
    if [[ -L "$OPT/venv" ]]; then
        old_target="$(readlink "$OPT/venv")"
    fi
    new_venv="$(prepare_venv)"
    new_target="$(link_target "$new_venv")"

    install_config
    make_signing_key "$new_venv"
    # Checked with the version about to run: an upgrade that rejects the config stops
    # here, with the old version still installed and running.
    note "checking $CONFIG_DIR_REAL/gateway.toml"
    if ! as_service_user "$new_venv/bin/$SERVICE" check-config "$CONFIG"; then
        [[ -n "$VENV_FROM" ]] || rm -rf "$new_venv"
        echo "install.sh: $CONFIG_DIR_REAL/gateway.toml does not pass check-config (above);" \
            "fix it and run install.sh again; nothing else was changed" >&2
        exit 2
    fi

    # New code means new kernels: drop the old machine code, compile the new as the
    # service user so the first start does not wait for the compiler.
    if [[ "$new_target" != "$old_target" ]]; then
        as_service_user find "$NUMBA_CACHE" -mindepth 1 -delete
    fi
    note "warming the Numba cache in $NUMBA_CACHE_REAL (compiles each kernel once)"
    local report
    if ! report="$(as_service_user "$new_venv/bin/$SERVICE" --log-level WARNING warmup)"; then
        [[ -n "$VENV_FROM" ]] || rm -rf "$new_venv"
        die "the Numba warm-up failed (above); nothing else was changed"
    fi
    printf '%s\n' "$report" | as_service_user tee "$CACHE_DIR/warmup.json" >/dev/null
    REPORT="$report" "$new_venv/bin/python" -c '
import json, os
r = json.loads(os.environ["REPORT"])
print("==> warm-up: %d kernels ready, %d cold, %s s" % (len(r["compiled"]), len(r["cold"]), r["seconds"]))
'

    switch_venv "$new_target"
    prune_venvs "$new_target" "$old_target"
    install -m 0644 "$SRC/systemd/$UNIT_NAME" "$UNIT"
    install -m 0644 "$SRC/docs/technician.md" "$OPT/docs/technician.md"
    install_wrapper
    note "installed $SERVICE into $OPT_REAL (venv -> $new_target)"

    sys systemctl daemon-reload
    sys systemctl enable "$UNIT_NAME"
    if [[ "$START" -eq 0 ]]; then
        note "not started (--no-start): systemctl start $SERVICE"
    elif unit_is_active; then
        sys systemctl restart "$UNIT_NAME"
        note "restarted $SERVICE"
    else
        sys systemctl start "$UNIT_NAME"
        note "started $SERVICE: systemctl status $SERVICE; journalctl -u $SERVICE -f"
    fi
}

do_uninstall() {
    # Tolerates a unit that is already gone, so that uninstalling twice is not an error.
    sys systemctl disable --now "$UNIT_NAME" || true
    rm -f "$UNIT"
    sys systemctl daemon-reload
    # The venv link is removed, never followed: a --venv-from venv stays intact.
    rm -rf "$OPT"
    rm -rf "$CACHE_DIR"
    if is_our_wrapper; then
        rm -f "$WRAPPER"
    fi
    note "removed the service, $OPT_REAL and $CACHE_DIR_REAL"
    if [[ "$PURGE" -eq 1 ]]; then
        rm -rf "$CONFIG_DIR" "$STATE_DIR"
        if [[ -n "$ROOT" ]]; then
            echo "would run: userdel $SERVICE_USER"
        elif id -u "$SERVICE_USER" >/dev/null 2>&1; then
            userdel "$SERVICE_USER"
        fi
        note "purged $CONFIG_DIR_REAL, $STATE_DIR_REAL (outbox included) and user $SERVICE_USER"
    else
        note "kept $CONFIG_DIR_REAL and $STATE_DIR_REAL (config, outbox, boot counter)"
    fi
}

case "$ACTION" in
    install) do_install ;;
    uninstall) do_uninstall ;;
esac
