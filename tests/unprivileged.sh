#!/usr/bin/env bash
# The unit tests (cargo test --lib) as an ordinary user: the fake kernel must serve them
# without privilege. As root, the test binary is run as nobody (setpriv); as anyone else it is
# run as is. Usage: tests/unprivileged.sh [CARGO TARGET TRIPLE]
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:-$(rustc -vV | sed -n 's/^host: //p')}
bin=$(cargo test --locked --lib --target "$target" --no-run --message-format=json 2>/dev/null |
  sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)
[ -x "$bin" ] || { echo "unprivileged: no unit-test binary found" >&2; exit 1; }
if [ "$(id -u)" != 0 ]; then exec "$bin" --test-threads=4; fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cp "$bin" "$dir/unit-tests"
cp docs/faults.md "$dir/faults.md"
chmod 755 "$dir" "$dir/unit-tests"
chmod 644 "$dir/faults.md"
cd "$dir"
setpriv --reuid=65534 --regid=65534 --clear-groups \
  env -i HOME="$dir" PATH=/usr/sbin:/usr/bin:/sbin:/bin REINIT_FAULTS_DOC="$dir/faults.md" \
  "$dir/unit-tests" --test-threads=4 |
  tail -n 3
# setpriv's status is the tests'; show who ran them.
echo "unprivileged: unit tests passed as uid 65534"
