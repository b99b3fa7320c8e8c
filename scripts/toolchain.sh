#!/usr/bin/env bash
# Checks the toolchains the two README commands need, and says exactly what to install when one is
# missing or too old. `run`: Rust. `test`: Rust with rustfmt and clippy, and Node with npm.
set -uo pipefail

RUST_MIN=1.89.0
NODE_MIN=20.14.0
problems=()

# Whether version $1 >= $2 (dotted numbers).
at_least() {
  [[ $(printf '%s\n%s\n' "$2" "$1" | sort -V | head -1) == "$2" ]]
}

rust_hint="install Rust $RUST_MIN or newer with rustup (Debian 12's rustc is 1.63): curl --proto '=https' -sSf https://sh.rustup.rs | sh -s -- -y, then open a new shell"
if ! command -v cargo >/dev/null 2>&1 || ! command -v rustc >/dev/null 2>&1; then
  problems+=("Rust is missing: $rust_hint")
else
  v=$(rustc --version | awk '{print $2}')
  at_least "${v%%-*}" "$RUST_MIN" || problems+=("rustc $v is too old: $rust_hint (or rustup update)")
fi

case ${1:-} in
  run) ;;
  test)
    if command -v cargo >/dev/null 2>&1; then
      cargo fmt --version >/dev/null 2>&1 || problems+=("rustfmt is missing: rustup component add rustfmt")
      cargo clippy --version >/dev/null 2>&1 || problems+=("clippy is missing: rustup component add clippy")
    fi
    node_hint="install Node $NODE_MIN or newer (Debian 12's nodejs is 18.19; the tests use node:test's --test-force-exit): from https://nodejs.org, or NodeSource's or nvm's Node 20/22"
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
      problems+=("Node and npm are missing: $node_hint")
    else
      v=$(node --version)
      at_least "${v#v}" "$NODE_MIN" || problems+=("node $v is too old: $node_hint")
    fi
    ;;
  *) echo "usage: $0 run|test" >&2; exit 2 ;;
esac

if [[ ${#problems[@]} -gt 0 ]]; then
  for p in "${problems[@]}"; do echo "toolchain: $p" >&2; done
  exit 1
fi
found="rustc $(rustc --version | awk '{print $2}')"
[[ $1 == test ]] && found+=", node $(node --version)"
echo "toolchain: $found"
