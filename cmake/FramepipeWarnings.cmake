# framepipe_warnings: the warning flags of everything framepipe builds (library, command, tests, benchmarks, fuzz
# targets); link it PRIVATE. The library takes the flags as compile options instead (see CMakeLists.txt): its links
# are exported with it. The flags never reach a consumer of the package. FRAMEPIPE_WARNINGS_AS_ERRORS turns every
# warning into an error (the test command's main and fuzz builds do).
#
# Every flag here is clean on the whole tree with GCC 12 (-O2) and clang 14. Left out because the code does not meet
# them today: -Wshadow, -Wconversion, -Wsign-conversion, -Wdouble-promotion, -Wuseless-cast, -Wcast-align,
# -Wfloat-equal, -Wmissing-declarations, -Wredundant-tags; -Wlogical-op reports EAGAIN || EWOULDBLOCK (equal on Linux).
option(FRAMEPIPE_WARNINGS_AS_ERRORS "Treat compiler warnings as errors" OFF)

add_library(framepipe_warnings INTERFACE)
# -Wno-missing-field-initializers: designated initializers that leave members at their defaults ({.capacity = 2}) are
# how the API is meant to be used.
target_compile_options(framepipe_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wno-missing-field-initializers
  -Wnon-virtual-dtor -Woverloaded-virtual -Wsuggest-override -Wold-style-cast -Wcast-qual
  -Wzero-as-null-pointer-constant -Wextra-semi -Wmismatched-tags -Wformat=2 -Wundef -Wvla
  "$<$<CXX_COMPILER_ID:GNU>:-Wduplicated-cond;-Wduplicated-branches;-Wredundant-decls>"
  # In a unity build (CMAKE_UNITY_BUILD, as the test command builds) each .cpp is an included file, and GCC takes a
  # class there with a member of an anonymous-namespace type for a header's class (-Wsubobject-linkage).
  "$<$<AND:$<CXX_COMPILER_ID:GNU>,$<BOOL:${CMAKE_UNITY_BUILD}>>:-Wno-subobject-linkage>"
  $<$<BOOL:${FRAMEPIPE_WARNINGS_AS_ERRORS}>:-Werror>)
