# Install rules and the Debian package (cpack -G DEB from a release build): the binary, its man
# page, the docs, the Grafana dashboards and alert rules, the systemd units of the nightly sweep,
# the sweep's settings file and bash completion. Debug symbols go to a separate -dbgsym package,
# so the installed binary is stripped. docs/install.md says what to do with each.
include(GNUInstallDirs)

set(UDMG_PACKAGING_DIR "${PROJECT_SOURCE_DIR}/packaging")
set(UDMG_DATA_DIR "${CMAKE_INSTALL_DATADIR}/udmg-server")
set(UDMG_SYSTEMD_UNIT_DIR "lib/systemd/system" CACHE STRING
  "where the systemd units go, under the install prefix")

install(TARGETS udmg-server RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# The man page, from the binary's own --help plus packaging/udmg-server.h2m (environment, files,
# exit codes, examples). Built with the binary when help2man is there (scripts/setup.sh installs
# it) and not in the sanitizer builds; a build without it has no man page to install.
find_program(HELP2MAN help2man)
if(HELP2MAN AND NOT UDMG_SANITIZE)
  set(UDMG_MAN_PAGE "${CMAKE_BINARY_DIR}/udmg-server.1")
  add_custom_command(
    OUTPUT "${UDMG_MAN_PAGE}" "${UDMG_MAN_PAGE}.gz"
    COMMAND "${HELP2MAN}" --no-info --no-discard-stderr --section=1 --source=udmg-keys
      "--include=${UDMG_PACKAGING_DIR}/udmg-server.h2m" "--output=${UDMG_MAN_PAGE}"
      "$<TARGET_FILE:udmg-server>"
    COMMAND gzip -9 -n -f -k "${UDMG_MAN_PAGE}"
    DEPENDS udmg-server "${UDMG_PACKAGING_DIR}/udmg-server.h2m"
    COMMENT "udmg-server.1 (help2man)"
    VERBATIM)
  add_custom_target(udmg_man_page ALL DEPENDS "${UDMG_MAN_PAGE}")
  install(FILES "${UDMG_MAN_PAGE}.gz" DESTINATION "${CMAKE_INSTALL_MANDIR}/man1")
else()
  message(STATUS "help2man not found: no man page (scripts/setup.sh installs it)")
endif()

file(GLOB UDMG_DOCS "${PROJECT_SOURCE_DIR}/docs/*.md")
install(FILES ${UDMG_DOCS} "${PROJECT_SOURCE_DIR}/README.md"
  DESTINATION "${CMAKE_INSTALL_DATADIR}/doc/udmg-server")
file(GLOB UDMG_DASHBOARDS "${PROJECT_SOURCE_DIR}/metrics/dashboards/*.json")
install(FILES ${UDMG_DASHBOARDS} DESTINATION "${UDMG_DATA_DIR}/dashboards")
install(FILES "${PROJECT_SOURCE_DIR}/metrics/alerts.yml" DESTINATION "${UDMG_DATA_DIR}/alerts")

install(FILES "${UDMG_PACKAGING_DIR}/systemd/udmg-sweep.service"
  "${UDMG_PACKAGING_DIR}/systemd/udmg-sweep.timer" DESTINATION "${UDMG_SYSTEMD_UNIT_DIR}")
install(FILES "${UDMG_PACKAGING_DIR}/udmg-server.tmpfiles"
  DESTINATION "lib/tmpfiles.d" RENAME udmg-server.conf)
install(FILES "${UDMG_PACKAGING_DIR}/udmg-server.bash-completion"
  DESTINATION "${CMAKE_INSTALL_DATADIR}/bash-completion/completions" RENAME udmg-server)
# Always /etc, whatever the prefix: the unit reads it there (a package installs under /usr).
install(FILES "${UDMG_PACKAGING_DIR}/udmg-server.default"
  DESTINATION /etc/default RENAME udmg-server)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME udmg-server)
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_CONTACT "udmg-keys developers <udmg-keys@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
  "keeps sensitive values encrypted at rest and rotates their keys")
set(CPACK_PACKAGE_DESCRIPTION "Keeps values encrypted at rest in SQLite or PostgreSQL \
(AES-256-GCM under versioned master keys wrapped by a root key) and rotates the keys without \
losing a value; with a nightly bounded sweep as a systemd timer, Grafana dashboards and \
Prometheus alert rules.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "prometheus-node-exporter, postgresql")
# Stripped binary here, its symbols in udmg-server-dbgsym (found by build id).
set(CPACK_DEBIAN_DEBUGINFO_PACKAGE ON)
# conffiles: the settings survive an upgrade and go on purge; postinst/postrm reload systemd.
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  "${UDMG_PACKAGING_DIR}/debian/conffiles"
  "${UDMG_PACKAGING_DIR}/debian/postinst"
  "${UDMG_PACKAGING_DIR}/debian/postrm")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
