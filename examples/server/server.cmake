# `edgeformer serve`: the OpenAI-compatible HTTP server, built into the CLI.
# Included from examples/CMakeLists.txt after the edgeformer-cli target exists.
pkg_check_modules(MHD REQUIRED IMPORTED_TARGET libmicrohttpd)

file(GLOB EF_SERVER_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/*.c)

# The chat page is plain HTML kept in its own file and embedded as a byte array.
set(EF_CHAT_PAGE_C ${CMAKE_CURRENT_BINARY_DIR}/chat_page_data.c)
add_custom_command(
  OUTPUT ${EF_CHAT_PAGE_C}
  COMMAND ${CMAKE_COMMAND} -DIN=${CMAKE_CURRENT_LIST_DIR}/chat_page.html -DOUT=${EF_CHAT_PAGE_C}
          -DSYMBOL=ef_chat_page -P ${CMAKE_CURRENT_LIST_DIR}/embed_file.cmake
  DEPENDS ${CMAKE_CURRENT_LIST_DIR}/chat_page.html ${CMAKE_CURRENT_LIST_DIR}/embed_file.cmake
  COMMENT "Embedding the chat page")

# POSIX threads, clocks and signals beyond C11.
set_source_files_properties(${EF_SERVER_SOURCES} PROPERTIES COMPILE_DEFINITIONS _POSIX_C_SOURCE=200809L)
target_sources(edgeformer-cli PRIVATE ${EF_SERVER_SOURCES} ${EF_CHAT_PAGE_C})
target_include_directories(edgeformer-cli PRIVATE ${CMAKE_CURRENT_LIST_DIR} ${PROJECT_SOURCE_DIR}/examples/cli)
target_link_libraries(edgeformer-cli PRIVATE PkgConfig::MHD Threads::Threads)
