#!/bin/sh
# Runs a command with EF_BIND_PRELOAD (a sanitizer runtime, set in sanitizer
# builds) preloaded and leak checking off; without it, runs it as is.
if [ -n "${EF_BIND_PRELOAD:-}" ]; then
    export LD_PRELOAD="$EF_BIND_PRELOAD${LD_PRELOAD:+:$LD_PRELOAD}"
    export ASAN_OPTIONS="detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
fi
exec "$@"
