#!/bin/sh
# SPDX-License-Identifier: MIT
# meson install script: install-config.sh EXAMPLE TARGET (absolute paths).
# Copies the installed configuration example to TARGET (both under
# $DESTDIR) unless TARGET exists: meson has no "install if absent", and an
# administrator's /etc/cardiod/cardiod.conf must survive a reinstall.
set -eu
src="${DESTDIR:-}$1"
dst="${DESTDIR:-}$2"
if [ -e "$dst" ]; then
	echo "Keeping existing $dst (the new example is $src)"
	exit 0
fi
mkdir -p "$(dirname "$dst")"
cp "$src" "$dst"
chmod 0644 "$dst"
echo "Installing $dst"
