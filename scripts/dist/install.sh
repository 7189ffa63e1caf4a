#!/bin/sh
# Installs vault from this unpacked release: the binaries, man pages, completions and docs,
# where the system looks for them.
#
#   sudo ./install.sh                          # into /usr/local
#   PREFIX=$HOME/.local ./install.sh           # for one user, no root (put $HOME/.local/bin on PATH)
#   DESTDIR=/tmp/stage PREFIX=/usr ./install.sh   # into a staging root, for packaging
set -eu
cd "$(dirname "$0")"
PREFIX=${PREFIX:-/usr/local}
DESTDIR=${DESTDIR:-}
case $PREFIX in
  /*) ;;
  *) echo "install.sh: PREFIX must be an absolute path, not '$PREFIX'" >&2; exit 2 ;;
esac
root=$DESTDIR$PREFIX

count=0
# Every file of bin/ and share/ keeps its place under PREFIX: bin/ executable, the rest not.
for file in $(find bin share -type f | LC_ALL=C sort); do
  case $file in
    bin/*) mode=0755 ;;
    *) mode=0644 ;;
  esac
  install -d -m 0755 "$root/$(dirname "$file")"
  install -m "$mode" "$file" "$root/$file"
  count=$((count + 1))
done
echo "installed $count files under $root"
case ":${PATH:-}:" in
  *":$PREFIX/bin:"*) ;;
  *) echo "add $PREFIX/bin to PATH (e.g. in ~/.profile) so that vault and man vault are found" ;;
esac
