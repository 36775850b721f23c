#!/bin/sh
# Runs a command with EF_BIND_PRELOAD (a sanitizer runtime, set in sanitizer
# builds) preloaded and leak checking off; without it, runs it as is.
if [ -n "${EF_BIND_PRELOAD:-}" ]; then
    export LD_PRELOAD="$EF_BIND_PRELOAD${LD_PRELOAD:+:$LD_PRELOAD}"
    # appended: the last setting of an option wins (CI sets detect_leaks=1)
    export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
fi
exec "$@"
