# Installation: headers, both libraries, a CMake package (find_package(inbatch) -> inbatch::inbatch) and
# a pkg-config file (inbatch.pc).
include(CMakePackageConfigHelpers)

install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS inbatch_shared inbatch_static EXPORT inbatchTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(EXPORT inbatchTargets NAMESPACE inbatch:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/inbatch)

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/inbatchConfig.cmake.in
  ${PROJECT_BINARY_DIR}/inbatchConfig.cmake INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/inbatch)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/inbatchConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/inbatchConfig.cmake ${PROJECT_BINARY_DIR}/inbatchConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/inbatch)

configure_file(${PROJECT_SOURCE_DIR}/cmake/inbatch.pc.in ${PROJECT_BINARY_DIR}/inbatch.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/inbatch.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
