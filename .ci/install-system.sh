#!/usr/bin/env bash
# Installs what a fresh Debian bookworm machine lacks to run webtrain's tests:
# the Vulkan loader, Mesa's software Vulkan driver (lavapipe) from backports
# (bookworm's own is too old for Dawn) and Chromium for the browser tests.
# The Debian mirror is read from this machine's apt sources, never written here.
set -euo pipefail
have_lavapipe() { ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1 && dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null | grep -q '^2[5-9]'; }
if have_lavapipe && command -v chromium >/dev/null && [ -e /usr/lib/x86_64-linux-gnu/libvulkan.so.1 ]; then
  echo "system packages already present"; exit 0
fi
sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
uri=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
[ -n "$uri" ] || uri=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
[ -n "$uri" ] || { echo "cannot find a Debian mirror in /etc/apt/sources*" >&2; exit 1; }
echo "deb $uri bookworm-backports main" | $sudo tee /etc/apt/sources.list.d/backports.list >/dev/null
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq libvulkan1 chromium >/dev/null
$sudo apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers >/dev/null
echo "installed: $(dpkg-query -W -f='${Package} ${Version}\n' mesa-vulkan-drivers chromium libvulkan1 | tr '\n' ';')"
