# Warnings and sanitizers apply to our own targets only (inb_strict), never to the dependencies.
add_library(inb_strict INTERFACE)
target_compile_options(inb_strict INTERFACE -Wall -Wextra $<$<BOOL:${INB_WERROR}>:-Werror>)

if(INB_SANITIZE STREQUAL "address")
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
elseif(INB_SANITIZE STREQUAL "thread")
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
elseif(NOT INB_SANITIZE STREQUAL "")
  message(FATAL_ERROR "INB_SANITIZE must be '', 'address' or 'thread'; found '${INB_SANITIZE}'")
endif()
