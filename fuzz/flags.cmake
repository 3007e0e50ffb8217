# FRAMEPIPE_FUZZ: everything this build compiles (the framepipe library and the targets in fuzz/) gets libFuzzer's
# coverage instrumentation and AddressSanitizer + UndefinedBehaviorSanitizer, every report fatal; only the targets
# link libFuzzer itself (fuzz/CMakeLists.txt). Included by the top-level CMakeLists.txt before any target is defined.
if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "FRAMEPIPE_FUZZ needs clang (libFuzzer): configure with -DCMAKE_CXX_COMPILER=clang++-14")
endif()
if(NOT FRAMEPIPE_SANITIZE STREQUAL "")
  message(FATAL_ERROR "FRAMEPIPE_FUZZ brings its own sanitizers: leave FRAMEPIPE_SANITIZE empty")
endif()
# -O1 and line tables: fast to compile, still fast to run, stacks with file:line. -UNDEBUG keeps assertions, which the
# fuzzer should reach too. vptr stays recoverable only so that tests/ubsan.supp can hide its one report inside oneTBB's
# headers when the tests run in this build (the test command's ASan run); fuzz/run.sh and the tests set
# halt_on_error=1, so every other report still ends the run.
add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fsanitize-recover=vptr
                    -fno-omit-frame-pointer -O1 -gline-tables-only -UNDEBUG)
add_link_options(-fsanitize=address,undefined)
