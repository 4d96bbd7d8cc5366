# End-to-end tests of `exaone serve` through the official OpenAI and Ollama Python clients, requests and a
# headless browser (tests/python, run by scripts/run-python-tests.sh). Without a Python virtual environment
# (no network, no venv module) the script prints "python tests skipped: ..." and CTest reports the test skipped.
add_test(NAME python_server_tests COMMAND bash ${CMAKE_SOURCE_DIR}/scripts/run-python-tests.sh
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(python_server_tests PROPERTIES
  ENVIRONMENT "EXAONE_BINARY=$<TARGET_FILE:exaone>"
  SKIP_REGULAR_EXPRESSION "python tests skipped:"
  TIMEOUT 900 RUN_SERIAL TRUE)
