#!/usr/bin/env bash
# Fetches nats-server for the relay's JetStream tests and benchmarks into .cache/nats-server/
# (a copy stays in the user's cache dir, so a fresh clone on the same machine takes it from there):
# 2.10 (Debian 13's package; the relay needs 2.10 or newer) and, for the test
# that the relay refuses it, Debian 12's 2.9. The system's apt sources are left alone: each archive
# is read through a private list in a temp dir (Debian's own mirror, which these machines use).
# Prints the path of the 2.10 binary. NATS_SERVER_BIN set to an existing file skips all of this.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="$root/.cache/nats-server"
machine="${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/skytale/nats-server"
if [[ -n "${NATS_SERVER_BIN:-}" && -x "${NATS_SERVER_BIN}" ]]; then
  echo "$NATS_SERVER_BIN"
  exit 0
fi
mkdir -p "$cache"

# fetch DIR SOURCES_LINE: downloads the nats-server .deb from SOURCES_LINE's archive and extracts
# its binary to $cache/DIR/nats-server.
fetch() {
  local dir="$cache/$1" line="$2"
  [[ -x "$dir/nats-server" ]] && return 0
  if [[ -x "$machine/$1/nats-server" ]]; then
    mkdir -p "$dir" && install -m 0755 "$machine/$1/nats-server" "$dir/nats-server" && return 0
  fi
  local tmp; tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' RETURN
  local opts=(-o "APT::Sandbox::User=root" -o "Dir::Etc::sourcelist=$tmp/sources.list" -o "Dir::Etc::sourceparts=-" -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache=$tmp/cache")
  mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial"
  echo "$line" > "$tmp/sources.list"
  apt-get "${opts[@]}" -qq update >&2
  (cd "$tmp" && apt-get "${opts[@]}" -qq download nats-server >&2)
  dpkg-deb -x "$tmp"/nats-server_*.deb "$tmp/x"
  mkdir -p "$dir"
  install -m 0755 "$tmp/x/usr/sbin/nats-server" "$dir/nats-server.part"
  mv "$dir/nats-server.part" "$dir/nats-server"
  # Best effort: the next clone on this machine copies it instead of downloading.
  mkdir -p "$machine/$1" 2>/dev/null && install -m 0755 "$dir/nats-server" "$machine/$1/nats-server" 2>/dev/null || true
}

fetch 2.10 "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main"
version="$("$cache/2.10/nats-server" --version)"
case "$version" in
  *v2.1[0-9].*|*v2.[2-9][0-9].*) ;;
  *) echo "fetch-nats-server: expected nats-server 2.10 or newer, got $version" >&2; exit 1 ;;
esac
# The old server is optional: only the test that the relay refuses it uses it (skipped without it).
if ! fetch 2.9 "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main"; then
  echo "fetch-nats-server: could not fetch Debian 12's nats-server 2.9 (the refusal test will be skipped)" >&2
fi
echo "$cache/2.10/nats-server"
