#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks for `make test` and `make demo`.
# Idempotent: does nothing (and needs no network) when everything is already there.
set -euo pipefail

# command → Debian package that provides it
declare -A needed=(
  [rpm]=rpm
  [rpmbuild]=rpm
  [rpmsign]=rpm
  [createrepo_c]=createrepo-c
  [dnf]=dnf
  [gpg]=gnupg
  [gpgconf]=gnupg
  [pvcreate]=lvm2
  [lvmconfig]=lvm2
  [lsblk]=util-linux
  [blkid]=util-linux
  [wipefs]=util-linux
  [mkswap]=util-linux
  [losetup]=mount
  [mount]=mount
  [sfdisk]=fdisk
  [mkfs.ext4]=e2fsprogs
  [sha256sum]=coreutils
  [ip]=iproute2
  [iptables]=iptables
  [ping]=iputils-ping
  [iptables-restore]=iptables
  [iptables-save]=iptables
  [sysctl]=procps
  [unshare]=util-linux
  [openssl]=openssl
  [zstd]=zstd
  [curl]=curl
  # make rpm and specs/tests: objdump -T of the packaged binary, unpacking RPMs,
  # systemctl --root, gpgv
  [objdump]=binutils
  [rpm2cpio]=rpm2cpio
  [cpio]=cpio
  [systemctl]=systemd
  [gpgv]=gpgv
  # agent/tests/pool_report.rs renders the pool-upgrade report in headless Chromium (and
  # `make demo`'s screenshot of it); it runs as root with --no-sandbox.
  [chromium]=chromium
  # agent/tests/metrics.rs: `promtool check metrics` (Debian ships promtool only in the
  # prometheus package, with the server, which is kept from starting below)
  [promtool]=prometheus
  # The VM tier (make test-vm, agent/tests/vm_kernel.rs, docs/vm-tier.md): QEMU boots Debian's
  # kernel under software emulation; virtme-ng (PyPI, scripts/test-vm.sh) drives it.
  [qemu-system-x86_64]=qemu-system-x86
)

missing=()
for cmd in "${!needed[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${needed[$cmd]}")
done

# The conformance tests run the real python-linstor and XenAPI clients from a virtualenv.
python3 -m venv --help >/dev/null 2>&1 || missing+=(python3-venv)
# specs/tests: a static /bin/sh for the scriptlets run inside a stand-in XCP-ng root.
file_is_static() { [ -x "$1" ] && ! ldd "$1" >/dev/null 2>&1; }
file_is_static /bin/busybox || missing+=(busybox-static)
# The VM tier's kernel: Debian's, with its modules (the in-tree drbd.ko and dm-thin-pool among
# them).
compgen -G '/boot/vmlinuz-*-amd64' >/dev/null || missing+=(linux-image-amd64)
# The Ansible role's dnf module runs on Debian's python3 with its dnf bindings.
/usr/bin/python3 -c 'import dnf' >/dev/null 2>&1 || missing+=(python3-dnf)

if ((${#missing[@]})); then
  mapfile -t packages < <(printf '%s\n' "${missing[@]}" | sort -u)
  echo "install-deps: installing ${packages[*]}" >&2
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: need root to install ${packages[*]} (run as root, or install them yourself)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  # No service a package brings may start here (the prometheus server, for one): Debian's
  # policy-rc.d hook, exit 101, unless the machine has its own.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 0755 /usr/sbin/policy-rc.d
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi

for component in clippy rustfmt; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
    echo "install-deps: adding rust component $component" >&2
    rustup component add "$component"
  fi
done
