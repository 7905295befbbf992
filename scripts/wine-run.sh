#!/usr/bin/env bash
# Test tooling: runs a Windows executable under Wine in the repository's own prefix (.wine/), prepared once.
# Usage: scripts/wine-run.sh EXE [ARGS...]   Environment: WINEPREFIX overrides the prefix folder.
# Wine 8 lacks bcryptprimitives.dll, which Bun's Windows runtime needs (only ProcessPrng): the stand-in
# built from scripts/wine/bcryptprimitives.c is placed in the prefix's system32. It never ships.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
[ $# -ge 1 ] || { echo "usage: $0 EXE [ARGS...]" >&2; exit 2; }

wine64="$(command -v wine64 || true)"
[ -n "$wine64" ] || { [ -x /usr/lib/wine/wine64 ] && wine64=/usr/lib/wine/wine64; } || true
if [ -z "$wine64" ]; then
  echo "wine-run: wine64 is missing; install it with: apt-get install wine64" >&2; exit 3
fi
wineserver="$(dirname "$wine64")/wineserver"
[ -x "$wineserver" ] || wineserver="$(command -v wineserver || echo /usr/lib/wine/wineserver)"
if ! command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1; then
  echo "wine-run: x86_64-w64-mingw32-gcc is missing; install it with: apt-get install gcc-mingw-w64-x86-64-win32" >&2; exit 3
fi

export WINEPREFIX="${WINEPREFIX:-$root/.wine}"
export WINEDEBUG="${WINEDEBUG:--all}" WINEARCH=win64 WINEDLLOVERRIDES="${WINEDLLOVERRIDES:-mscoree,mshtml=}"
stamp="$WINEPREFIX/.pkipc-ready"
dll="$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll"
src="$root/scripts/wine/bcryptprimitives.c"

if [ ! -f "$stamp" ] || [ ! -f "$dll" ] || [ "$src" -nt "$dll" ]; then
  # several tests may start at once: one prepares, the others wait for it
  mkdir -p "$(dirname "$WINEPREFIX")"
  exec 9>"$WINEPREFIX.lock"
  flock 9
  if [ ! -f "$stamp" ] || [ ! -f "$dll" ] || [ "$src" -nt "$dll" ]; then
    echo "wine-run: preparing the Wine prefix $WINEPREFIX (once)" >&2
    "$wine64" wineboot --init >/dev/null 2>&1 || true
    "$wineserver" -w
    [ -d "$WINEPREFIX/drive_c/windows/system32" ] || { echo "wine-run: wineboot did not create $WINEPREFIX" >&2; exit 4; }
    x86_64-w64-mingw32-gcc -shared -O2 -o "$dll" "$src" "$root/scripts/wine/bcryptprimitives.def" -ladvapi32
    touch "$stamp"
  fi
  flock -u 9
fi

exec "$wine64" "$@"
