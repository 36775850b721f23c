# Cross-compiles for arm64 Linux with Debian's gcc-aarch64-linux-gnu.
# Dependencies come from Debian multiarch (libpcre2-dev:arm64, libcjson-dev:arm64,
# libcmocka-dev:arm64, libzstd-dev:arm64); ctest runs every test binary under
# qemu-user through CMAKE_CROSSCOMPILING_EMULATOR. See docs/platforms.md.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(EF_CROSS_TRIPLE aarch64-linux-gnu)
set(CMAKE_C_COMPILER ${EF_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${EF_CROSS_TRIPLE}-g++)

# Libraries and headers from the target's multiarch folders only; programs
# (pkg-config, python, perl) from the build host.
set(CMAKE_FIND_ROOT_PATH /usr/${EF_CROSS_TRIPLE})
set(CMAKE_LIBRARY_ARCHITECTURE ${EF_CROSS_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)

# pkg-config must read the arm64 .pc files, not the host's.
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/${EF_CROSS_TRIPLE}/pkgconfig:/usr/share/pkgconfig)
set(ENV{PKG_CONFIG_PATH} "")

# -L /: run against the multiarch arm64 runtime (libc6:arm64 and the -dev:arm64
# packages' libraries in /lib/aarch64-linux-gnu), NOT /usr/aarch64-linux-gnu:
# libc6-arm64-cross (used for linking) is an older glibc build than libc6:arm64,
# and mixing its ld.so with the multiarch libc.so makes pthread_create hang.
find_program(EF_QEMU_AARCH64 NAMES qemu-aarch64 qemu-aarch64-static REQUIRED)
set(CMAKE_CROSSCOMPILING_EMULATOR ${EF_QEMU_AARCH64};-L;/)
