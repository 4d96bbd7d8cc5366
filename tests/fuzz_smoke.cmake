# Short libFuzzer runs of every parser target (the long runs: scripts/fuzz.sh).
find_program(CLANGXX clang++)
if(CLANGXX)
  add_test(NAME fuzz_smoke COMMAND bash ${CMAKE_SOURCE_DIR}/scripts/fuzz.sh --smoke
           WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(fuzz_smoke PROPERTIES TIMEOUT 1200 RUN_SERIAL TRUE)
endif()
