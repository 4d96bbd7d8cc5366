# The exaone_comply Python package (python/) and its Ray Data scan, built into a venv in the build
# folder and tested with pytest (scripts/run-comply-python-tests.sh). Without network or venv the
# script prints "comply python tests skipped: ..." and CTest reports the test skipped.
add_test(NAME comply_python_tests
         COMMAND bash ${CMAKE_SOURCE_DIR}/scripts/run-comply-python-tests.sh ${CMAKE_BINARY_DIR}
         WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(comply_python_tests PROPERTIES
  ENVIRONMENT "EXAONE_BINARY=$<TARGET_FILE:exaone>"
  SKIP_REGULAR_EXPRESSION "comply python tests skipped:"
  TIMEOUT 1500 RUN_SERIAL TRUE)
