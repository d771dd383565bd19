# Helpers that keep each folder's CMakeLists a short list (as Tink's tink_cc_library).

# The layers (docs/architecture.md), each a top-level folder. A library in one of them sees, as
# include paths, only its own folder and those of the libraries it links: its include root holds a
# single link to its folder (an include of "db/store.h" from engine/ does not find the file).
# Tests, fuzz harnesses and benchmarks see the whole tree.
set(UDMG_LAYERS base engine hsm db metrics pipeline cli)

# udmg_include_root(VAR): the include root for the targets of the current source folder.
function(udmg_include_root out)
  file(RELATIVE_PATH relative ${PROJECT_SOURCE_DIR} ${CMAKE_CURRENT_SOURCE_DIR})
  string(REGEX REPLACE "/.*" "" folder "${relative}")
  if(NOT folder IN_LIST UDMG_LAYERS)
    set(${out} ${PROJECT_SOURCE_DIR} PARENT_SCOPE)
    return()
  endif()
  set(root ${PROJECT_BINARY_DIR}/include_roots/${folder})
  if(NOT EXISTS ${root}/${folder})
    file(MAKE_DIRECTORY ${root})
    file(CREATE_LINK ${PROJECT_SOURCE_DIR}/${folder} ${root}/${folder} SYMBOLIC)
  endif()
  set(${out} ${root} PARENT_SCOPE)
endfunction()

# udmg_library(NAME SOURCES a.cc b.cc DEPS target...)
function(udmg_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  udmg_include_root(root)
  target_include_directories(${name} PUBLIC ${root})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
  target_compile_options(${name} PRIVATE ${UDMG_WARNINGS})
endfunction()

# udmg_tsan_tests builds every test binary labelled pipeline or threads (the tests that start
# threads, in the test or in the udmg-server it runs), with what they run, and only those: the
# ThreadSanitizer stage of scripts/test.sh runs no other.
add_custom_target(udmg_tsan_tests)

# udmg_test(NAME SOURCES a_test.cc DEPS target... [LABELS l...])
# Each test binary is registered with ctest test by test (gtest_discover_tests at test time).
function(udmg_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR})
  # Every test binary gets the shared helpers (tests/support/: temp directories, Status
  # matchers).
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} udmg_test_support GTest::gtest GTest::gmock
    GTest::gtest_main)
  target_compile_options(${name} PRIVATE ${UDMG_WARNINGS})
  target_compile_definitions(${name} PRIVATE
    UDMG_TESTDATA_DIR="${UDMG_TESTDATA_DIR}"
    UDMG_SERVER_BINARY="$<TARGET_FILE:udmg-server>"
    UDMG_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  gtest_discover_tests(${name} DISCOVERY_MODE PRE_TEST DISCOVERY_TIMEOUT 60
    TEST_LIST ${name}_TESTS)
  # Labels are set by a script ctest includes after the discovery (TEST_INCLUDE_FILES run in
  # order), on the tests it listed in ${name}_TESTS: given as gtest_discover_tests PROPERTIES, a
  # list of labels is flattened on the way and only the first one sticks.
  if(ARG_LABELS)
    set(labels_script "${CMAKE_CURRENT_BINARY_DIR}/${name}_labels.cmake")
    file(WRITE "${labels_script}"
      "if(${name}_TESTS)\n"
      "  set_tests_properties(\${${name}_TESTS} PROPERTIES LABELS \"${ARG_LABELS}\")\n"
      "endif()\n")
    set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES "${labels_script}")
  endif()
  if("pipeline" IN_LIST ARG_LABELS OR "threads" IN_LIST ARG_LABELS)
    add_dependencies(udmg_tsan_tests ${name})
  endif()
endfunction()

# udmg_fuzzer(NAME SOURCES a_fuzzer.cc DEPS target...): one libFuzzer harness (UDMG_FUZZ), built by
# the udmg_fuzzers target. Its seeds live in fuzz/corpus/NAME/.
function(udmg_fuzzer name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
  target_compile_options(${name} PRIVATE ${UDMG_WARNINGS})
  target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  add_dependencies(udmg_fuzzers ${name})
endfunction()
