#!/bin/sh
# Installs mosquitto and mosquitto-clients for the real-server specs when
# they are missing (Debian/Ubuntu). apt-get update runs only when
# something has to be installed. The specs start their own broker on a
# free loopback port; this script does not start one.
set -eu
missing=""
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing="$missing mosquitto"
command -v mosquitto_sub >/dev/null 2>&1 || missing="$missing mosquitto-clients"
if [ -z "$missing" ]; then
	echo "mosquitto.sh: mosquitto and mosquitto-clients are installed"
	exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "mosquitto.sh: installing$missing"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
