#!/usr/bin/env bash
# Installs the Debian packages the real-server test bed (Dovecot, Postfix), the metrics/alerting
# tests (Prometheus, Alertmanager), the status page browser tests (Chromium) and the history store's
# contract tests (PostgreSQL) need. Idempotent: exits at once when everything is installed.
set -euo pipefail

# buildah + debootstrap build and run the container image (test/integration/image-buildah.test.ts);
# systemd brings systemd-analyze for the unit's checks; tinyproxy is the real forward proxy of the outbound proxy
# test (test/integration/proxy-tinyproxy.test.ts).
PACKAGES=(dovecot-imapd dovecot-pop3d dovecot-lmtpd postfix prometheus prometheus-alertmanager chromium postgresql faketime buildah debootstrap systemd tinyproxy)

missing=()
for package in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$package")
  fi
done
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-packages: missing ${missing[*]}; installing them needs root (apt-get)" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# The test bed runs private Dovecot/Postfix instances; the system services are not wanted, so keep
# package scripts from starting them (only if nothing else already decides that).
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  trap 'rm -f "$policy"' EXIT
fi
# "No configuration" keeps postfix's postinst from writing a system main.cf and asking questions.
echo 'postfix postfix/main_mailer_type select No configuration' | debconf-set-selections

echo "install-packages: installing ${missing[*]}" >&2
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
