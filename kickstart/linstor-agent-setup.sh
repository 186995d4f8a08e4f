#!/bin/sh
# linstor-agent-setup.sh: install linstor-agent on a freshly installed host and have it provision
# the host at its first boot. The XCP-ng answerfile script (stage "filesystem-populated"):
#
#   <script stage="filesystem-populated" type="url">http://deploy.example/linstor-agent-setup.sh</script>
#
# The installer runs it with the target's root as its argument; `--root DIR` says the same.
# It installs linstor-agent-release and linstor-agent from the signed repository into that root
# (yum/dnf --installroot, gpgcheck and repo_gpgcheck on, the key checked against its fingerprint),
# writes /etc/linstor-agent/agent.toml from the settings below, and enables
# linstor-agent-firstboot.service. Nothing else runs in the root: provisioning (disks, network,
# LINSTOR) happens at the first boot, when XAPI is up.
#
# Settings: edit the defaults in the block below before serving the script, or set them in the
# environment, or on the installer's kernel command line as linstor_agent.NAME=VALUE (for
# example linstor_agent.devices=/dev/sdb,/dev/sdc). kickstart/linstor-agent.ks carries the same
# block in its %post (specs/tests checks that they stay the same).
set -eu

ROOT=/
while [ $# -gt 0 ]; do
    case $1 in
        --root) ROOT=${2:?--root needs a directory}; shift ;;
        --root=*) ROOT=${1#--root=} ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        -*) echo "linstor-agent-setup: unknown option $1" >&2; exit 2 ;;
        *) ROOT=$1 ;;
    esac
    shift
done

# --- begin linstor-agent-setup (shared with kickstart/linstor-agent.ks) ---
# Settings. Required: LINSTOR_AGENT_REPO and LINSTOR_AGENT_FINGERPRINT.
LINSTOR_AGENT_REPO=${LINSTOR_AGENT_REPO:-}                # the signed repository's baseurl
LINSTOR_AGENT_GPGKEY=${LINSTOR_AGENT_GPGKEY:-}            # its key (URL or path); default REPO/RPM-GPG-KEY-linstor-agent
LINSTOR_AGENT_FINGERPRINT=${LINSTOR_AGENT_FINGERPRINT:-}  # that key's fingerprint (40 hex digits)
LINSTOR_AGENT_RELEASEVER=${LINSTOR_AGENT_RELEASEVER:-}    # yum's $releasever, when it cannot be read from the root
LINSTOR_AGENT_CONTROLLER=${LINSTOR_AGENT_CONTROLLER:-}    # LINSTOR controller URLs, comma-separated
LINSTOR_AGENT_NODE_TYPE=${LINSTOR_AGENT_NODE_TYPE:-}      # combined (default) or satellite
LINSTOR_AGENT_DEVICES=${LINSTOR_AGENT_DEVICES:-}          # disks for LINSTOR, comma-separated, or auto; empty: diskless
LINSTOR_AGENT_THIN_POOL=${LINSTOR_AGENT_THIN_POOL:-thin_device}  # empty for thick LVM
LINSTOR_AGENT_STORAGE_INTERFACE=${LINSTOR_AGENT_STORAGE_INTERFACE:-}  # NIC for DRBD replication
LINSTOR_AGENT_STORAGE_ADDRESS=${LINSTOR_AGENT_STORAGE_ADDRESS:-}      # its address/prefix
LINSTOR_AGENT_MTU=${LINSTOR_AGENT_MTU:-}
LINSTOR_AGENT_PEERS=${LINSTOR_AGENT_PEERS:-}              # comma-separated
LINSTOR_AGENT_XAPI_URL=${LINSTOR_AGENT_XAPI_URL:-}        # the pool master's XAPI
LINSTOR_AGENT_XAPI_USERNAME=${LINSTOR_AGENT_XAPI_USERNAME:-root}
LINSTOR_AGENT_XAPI_PASSWORD=${LINSTOR_AGENT_XAPI_PASSWORD:-}  # written to /etc/linstor-agent/xapi.secret (0600)
LINSTOR_AGENT_XAPI_FINGERPRINT=${LINSTOR_AGENT_XAPI_FINGERPRINT:-}

la_log() { echo "linstor-agent-setup: $*" >&2; }
la_die() { la_log "$*"; exit 1; }

# linstor_agent.NAME=VALUE on the kernel command line overrides LINSTOR_AGENT_NAME.
if [ -r /proc/cmdline ]; then
    for la_arg in $(cat /proc/cmdline); do
        case $la_arg in
            linstor_agent.*=*)
                la_name=$(echo "${la_arg%%=*}" | sed 's/^linstor_agent\.//' | tr 'a-z-' 'A-Z_')
                case $la_name in *[!A-Z0-9_]*) continue ;; esac
                eval "LINSTOR_AGENT_$la_name=\${la_arg#*=}" ;;
        esac
    done
fi

# A TOML basic string, and a TOML array of strings from a comma-separated list.
la_toml_str() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"; }
la_toml_list() {
    la_sep=
    printf '['
    la_old_ifs=$IFS; IFS=,
    for la_item in $1; do
        [ -n "$la_item" ] || continue
        printf '%s%s' "$la_sep" "$(la_toml_str "$la_item")"; la_sep=', '
    done
    IFS=$la_old_ifs
    printf ']'
}

linstor_agent_setup() {
    la_root=${1%/}
    [ -n "$LINSTOR_AGENT_REPO" ] || la_die "set LINSTOR_AGENT_REPO (the signed repository's baseurl)"
    [ -n "$LINSTOR_AGENT_FINGERPRINT" ] || la_die "set LINSTOR_AGENT_FINGERPRINT (the repository key's fingerprint)"
    [ -d "$la_root/" ] || la_die "$la_root is not a directory"
    case $LINSTOR_AGENT_REPO in */) ;; *) LINSTOR_AGENT_REPO=$LINSTOR_AGENT_REPO/ ;; esac
    la_key_src=${LINSTOR_AGENT_GPGKEY:-${LINSTOR_AGENT_REPO}RPM-GPG-KEY-linstor-agent}
    la_fpr=$(echo "$LINSTOR_AGENT_FINGERPRINT" | tr -d ' :' | tr 'a-f' 'A-F')

    la_tmp=$(mktemp -d /tmp/linstor-agent-setup.XXXXXX)
    trap 'rm -rf "$la_tmp"' EXIT
    # The key, checked against the fingerprint before anything from the repository is trusted.
    case $la_key_src in
        file://*) cp "${la_key_src#file://}" "$la_tmp/key" ;;
        /*) cp "$la_key_src" "$la_tmp/key" ;;
        *) curl -fsSL -o "$la_tmp/key" "$la_key_src" || la_die "cannot download $la_key_src" ;;
    esac
    mkdir -m 0700 "$la_tmp/gnupg"
    # (import, then list: CentOS 7's gpg 2.0 has no --import-options show-only)
    gpg --homedir "$la_tmp/gnupg" --batch --quiet --import "$la_tmp/key" >/dev/null 2>&1 || true
    la_got=$(gpg --homedir "$la_tmp/gnupg" --batch --with-colons --fingerprint 2>/dev/null |
        awk -F: '$1=="fpr" {print $10; exit}')
    gpgconf --homedir "$la_tmp/gnupg" --kill gpg-agent >/dev/null 2>&1 || true
    [ "$la_got" = "$la_fpr" ] || la_die "$la_key_src has fingerprint '${la_got:-none}', not $la_fpr: refusing it"
    la_log "repository key $la_fpr verified"

    mkdir -p "$la_tmp/repos"
    cat > "$la_tmp/repos/linstor-agent-setup.repo" <<REPO
[linstor-agent-setup]
name=linstor-agent (first install)
baseurl=$LINSTOR_AGENT_REPO
enabled=1
gpgcheck=1
repo_gpgcheck=1
gpgkey=file://$la_tmp/key
REPO
    if command -v dnf >/dev/null 2>&1; then la_pm=dnf; else la_pm=yum; fi
    set -- -y --setopt=reposdir="$la_tmp/repos" --disablerepo='*' --enablerepo=linstor-agent-setup
    if [ -n "$la_root" ]; then
        set -- "$@" --installroot="$la_root"
        la_rv=$LINSTOR_AGENT_RELEASEVER
        if [ -z "$la_rv" ] && [ -r "$la_root/etc/os-release" ]; then
            la_rv=$(. "$la_root/etc/os-release" && echo "${VERSION_ID:-}")
        fi
        [ -z "$la_rv" ] || set -- "$@" --releasever="$la_rv"
    fi
    if [ "$la_pm" = dnf ]; then
        set -- "$@" --setopt=install_weak_deps=False
        # dnf keeps its cache (and the gpg-agent of repo_gpgcheck) in the root it installs into.
        [ -z "$la_root" ] || set -- "$@" --setopt=cachedir="$la_root/var/cache/dnf"
    fi
    la_log "installing linstor-agent-release and linstor-agent into ${la_root:-/} with $la_pm"
    la_rc=0
    "$la_pm" "$@" install linstor-agent-release linstor-agent || la_rc=$?
    # dnf's repo_gpgcheck leaves a gpg-agent for the key it imported: stop it.
    for la_ring in "$la_root"/var/cache/dnf/*/pubring; do
        [ -d "$la_ring" ] && gpgconf --homedir "$la_ring" --kill gpg-agent >/dev/null 2>&1 || true
    done
    [ "$la_rc" -eq 0 ] || la_die "$la_pm failed (exit $la_rc)"

    # agent.toml from the settings.
    la_etc=$la_root/etc/linstor-agent
    mkdir -p "$la_etc"
    {
        echo "# Written by linstor-agent-setup at installation; see 'man linstor-agent' for every key."
        echo "[repo]"
        echo "baseurl = $(la_toml_str "$LINSTOR_AGENT_REPO")"
        echo "gpgkey = \"/etc/pki/rpm-gpg/RPM-GPG-KEY-linstor-agent\""
        echo "fingerprint = $(la_toml_str "$la_fpr")"
        if [ -n "$LINSTOR_AGENT_DEVICES" ]; then
            echo
            echo "[storage]"
            echo "devices = $(la_toml_list "$LINSTOR_AGENT_DEVICES")"
            [ -z "$LINSTOR_AGENT_THIN_POOL" ] || echo "thin_pool = $(la_toml_str "$LINSTOR_AGENT_THIN_POOL")"
        fi
        if [ -n "$LINSTOR_AGENT_STORAGE_INTERFACE$LINSTOR_AGENT_STORAGE_ADDRESS$LINSTOR_AGENT_MTU$LINSTOR_AGENT_PEERS" ]; then
            echo
            echo "[network]"
            [ -z "$LINSTOR_AGENT_STORAGE_INTERFACE" ] || echo "storage_interface = $(la_toml_str "$LINSTOR_AGENT_STORAGE_INTERFACE")"
            [ -z "$LINSTOR_AGENT_STORAGE_ADDRESS" ] || echo "storage_address = $(la_toml_str "$LINSTOR_AGENT_STORAGE_ADDRESS")"
            [ -z "$LINSTOR_AGENT_MTU" ] || echo "mtu = $LINSTOR_AGENT_MTU"
            [ -z "$LINSTOR_AGENT_PEERS" ] || echo "peers = $(la_toml_list "$LINSTOR_AGENT_PEERS")"
        fi
        if [ -n "$LINSTOR_AGENT_CONTROLLER" ]; then
            echo
            echo "[controller]"
            echo "urls = $(la_toml_list "$LINSTOR_AGENT_CONTROLLER")"
            [ -z "$LINSTOR_AGENT_NODE_TYPE" ] || echo "node_type = $(la_toml_str "$LINSTOR_AGENT_NODE_TYPE")"
        fi
        if [ -n "$LINSTOR_AGENT_XAPI_URL" ]; then
            echo
            echo "[xapi]"
            echo "url = $(la_toml_str "$LINSTOR_AGENT_XAPI_URL")"
            echo "username = $(la_toml_str "$LINSTOR_AGENT_XAPI_USERNAME")"
            [ -z "$LINSTOR_AGENT_XAPI_PASSWORD" ] || echo "password_file = \"/etc/linstor-agent/xapi.secret\""
            [ -z "$LINSTOR_AGENT_XAPI_FINGERPRINT" ] || echo "fingerprint = $(la_toml_str "$LINSTOR_AGENT_XAPI_FINGERPRINT")"
        fi
    } > "$la_etc/agent.toml.new"
    chmod 0644 "$la_etc/agent.toml.new"
    mv "$la_etc/agent.toml.new" "$la_etc/agent.toml"
    if [ -n "$LINSTOR_AGENT_XAPI_PASSWORD" ]; then
        (umask 077 && printf '%s' "$LINSTOR_AGENT_XAPI_PASSWORD" > "$la_etc/xapi.secret")
    fi
    la_log "wrote $la_etc/agent.toml"

    # Provision at the first boot.
    la_unit=linstor-agent-firstboot.service
    if [ -z "$la_root" ] && systemctl enable "$la_unit" >/dev/null 2>&1; then :
    elif [ -n "$la_root" ] && systemctl --root="$la_root" enable "$la_unit" >/dev/null 2>&1; then :
    else
        # No usable systemctl (an installer environment): what `enable` does for WantedBy=.
        mkdir -p "$la_root/etc/systemd/system/multi-user.target.wants"
        ln -sf "/usr/lib/systemd/system/$la_unit" "$la_root/etc/systemd/system/multi-user.target.wants/$la_unit"
    fi
    la_log "enabled $la_unit: the host provisions itself at its first boot"
    rm -rf "$la_tmp"
}
# --- end linstor-agent-setup ---

case $ROOT in
    /) linstor_agent_setup "" ;;
    *) linstor_agent_setup "$ROOT" ;;
esac
