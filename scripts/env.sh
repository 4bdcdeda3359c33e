# Sourced by every project script: puts Node 22+ and pnpm on PATH, installing
# them from the npm registry into .tools/ when the machine lacks them.
# (corepack cannot verify signatures here, so pnpm comes through npm.)
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
NODE_VERSION="22.23.3"
PNPM_VERSION="12.21.0"
node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if [ -x "$TOOLS/node_modules/.bin/node" ]; then export PATH="$TOOLS/node_modules/.bin:$PATH"; fi
if [ "$(node_major)" -lt 22 ] || ! command -v pnpm >/dev/null 2>&1; then
  echo "omnibus: installing node@$NODE_VERSION and pnpm@$PNPM_VERSION into .tools/" >&2
  pkgs="pnpm@$PNPM_VERSION"
  [ "$(node_major)" -lt 22 ] && pkgs="node@$NODE_VERSION $pkgs"
  npm install --no-save --no-audit --no-fund --loglevel=error --prefix "$TOOLS" $pkgs >&2
  export PATH="$TOOLS/node_modules/.bin:$PATH"
fi
# Inside the workspace, packages resolve to their TypeScript sources (the
# "@omnibus/source" export condition); users get dist/ (scripts/packaging.sh).
case " ${NODE_OPTIONS:-} " in *" --conditions=@omnibus/source "*) ;; *) export NODE_OPTIONS="--conditions=@omnibus/source${NODE_OPTIONS:+ $NODE_OPTIONS}" ;; esac
ensure_deps() {
  if [ ! -d "$ROOT/node_modules/.pnpm" ] || [ "$ROOT/pnpm-lock.yaml" -nt "$ROOT/node_modules/.pnpm/lock.yaml" ]; then
    (cd "$ROOT" && pnpm install --frozen-lockfile --reporter=append-only >&2)
  fi
}
