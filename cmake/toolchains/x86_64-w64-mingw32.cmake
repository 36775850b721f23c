# Cross-compiles a Windows x86-64 DLL (libedgeformer.dll + import library) and
# edgeformer.exe with Debian's gcc-mingw-w64-x86-64 (the "posix" thread model,
# whose winpthreads backs the thread pool). Tests run under Wine through
# CMAKE_CROSSCOMPILING_EMULATOR. PCRE2, cJSON and CMocka have no mingw build in
# Debian: the features that need them are switched off (see docs/platforms.md).
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)

set(EF_CROSS_TRIPLE x86_64-w64-mingw32)
set(CMAKE_C_COMPILER ${EF_CROSS_TRIPLE}-gcc-posix)
set(CMAKE_CXX_COMPILER ${EF_CROSS_TRIPLE}-g++-posix)
set(CMAKE_RC_COMPILER ${EF_CROSS_TRIPLE}-windres)

set(CMAKE_FIND_ROOT_PATH /usr/${EF_CROSS_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# Never pick up the host's Linux .pc files.
set(ENV{PKG_CONFIG_LIBDIR} /usr/${EF_CROSS_TRIPLE}/lib/pkgconfig)
set(ENV{PKG_CONFIG_PATH} "")

# mingw's own C99 printf family (msvcrt's lacks %zu/%lld). GCC still checks
# printf-attributed functions against msvcrt's format rules on this target, so
# format warnings are off here; the Linux builds check every format string.
set(CMAKE_C_FLAGS_INIT "-D__USE_MINGW_ANSI_STDIO=1 -Wno-format")
set(CMAKE_CXX_FLAGS_INIT "-D__USE_MINGW_ANSI_STDIO=1 -Wno-format")

# The GCC runtime and winpthreads are linked in statically, so the DLL and the
# programs need no libgcc_s/libwinpthread DLL next to them.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static-libgcc -static-libstdc++ -static")
set(CMAKE_SHARED_LINKER_FLAGS_INIT "-static-libgcc -static-libstdc++ -static")

find_program(EF_WINE NAMES wine64 wine)
if(EF_WINE)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${EF_WINE})
endif()
