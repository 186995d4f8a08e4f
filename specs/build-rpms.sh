#!/usr/bin/env bash
# `make rpm`: builds the agent's RPM with rpmbuild from this source tree, in place:
#   target/rpm/RPMS/x86_64/linstor-agent-<version>-1.x86_64.rpm
# With RELEASE_BASEURL and RELEASE_GPGKEY set, also the repository package:
#   target/rpm/RPMS/noarch/linstor-agent-release-1-1.noarch.rpm
# Prints the paths of the RPMs it built, one a line.
#
# The binary is built for glibc 2.17 with cargo zigbuild into target/zig (so it never touches the
# target/ of native builds); cargo-zigbuild and zig come from the packaging virtualenv. Building
# again only re-packages: cargo has nothing to redo.
set -euo pipefail
cd "$(dirname "$0")/.."
source specs/tests/venv.sh

TOPDIR=${RPM_TOPDIR:-$PWD/target/rpm}
VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
[ -n "$VERSION" ] || { echo "build-rpms: no version in Cargo.toml's [workspace.package]" >&2; exit 1; }

rpmbuild_args=(-bb --build-in-place --nodeps --quiet --define "_topdir $TOPDIR")
# Debian's rpm has no systemd macros: the ones CentOS 7 defines (an EL build host has its own).
if [ -z "$(rpm --eval '%{?systemd_post:1}')" ]; then
  rpmbuild_args+=(--load "$PWD/specs/macros.systemd")
fi

# Debian's brp-compress is a bash script run with /bin/sh (dash), which stops it half-way: run it
# with bash, so man pages are gzipped as on EL.
if [ "$(readlink -f /bin/sh)" != "$(readlink -f /bin/bash)" ]; then
  rpmbuild_args+=(--define "__brp_compress bash %{_rpmconfigdir}/brp-compress %{?_prefix}")
fi

mkdir -p "$TOPDIR"
rpmbuild "${rpmbuild_args[@]}" \
  --define "pkg_version $VERSION" \
  --define "cargo_target_dir $PWD/target/zig" \
  specs/linstor-agent.spec >&2
echo "$TOPDIR/RPMS/x86_64/linstor-agent-$VERSION-1.x86_64.rpm"

if [ -n "${RELEASE_BASEURL:-}" ] || [ -n "${RELEASE_GPGKEY:-}" ]; then
  : "${RELEASE_BASEURL:?set RELEASE_BASEURL too (the repository baseurl)}"
  : "${RELEASE_GPGKEY:?set RELEASE_GPGKEY too (the armored public key file)}"
  rpmbuild "${rpmbuild_args[@]}" \
    --define "repo_baseurl $RELEASE_BASEURL" \
    --define "repo_gpgkey $(realpath "$RELEASE_GPGKEY")" \
    specs/linstor-agent-release.spec >&2
  echo "$TOPDIR/RPMS/noarch/linstor-agent-release-1-1.noarch.rpm"
fi
