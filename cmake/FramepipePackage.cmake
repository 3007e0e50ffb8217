# Install rules and the package for programs outside this tree: the library, its public headers (include/framepipe/,
# with report.schema.json), a CMake package (framepipeConfig.cmake, framepipeConfigVersion.cmake, framepipeTargets.cmake)
# that gives framepipe::framepipe from an install prefix and from this build tree, and framepipe.pc for pkg-config.
# tests/package/check.sh builds a consumer all three ways. Included by the top-level CMakeLists.txt after the library is
# defined, when FRAMEPIPE_INSTALL is on.
include(CMakePackageConfigHelpers)

set(FRAMEPIPE_CMAKE_DIR "${CMAKE_INSTALL_LIBDIR}/cmake/framepipe")
get_target_property(FRAMEPIPE_LIBRARY_TYPE framepipe TYPE)
# framepipeConfig.cmake and framepipe.pc name these as the build found them.
string(REPLACE ";" " " FRAMEPIPE_OPENCV_COMPONENTS "${FRAMEPIPE_OPENCV_COMPONENTS}")
string(REPLACE ";" " " FRAMEPIPE_LIBAV_MODULES "${FRAMEPIPE_LIBAV_MODULES}")

install(TARGETS framepipe EXPORT framepipeTargets
  ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}"
  LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}"
  RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}"
  INCLUDES DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")
# Beside the library, where it looks for it (src/media/image_codecs.cpp).
install(TARGETS framepipe_imgcodecs LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}")
install(DIRECTORY include/framepipe DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")
install(EXPORT framepipeTargets NAMESPACE framepipe:: DESTINATION "${FRAMEPIPE_CMAKE_DIR}")
# The same targets for a consumer pointed at this build tree (framepipe_DIR=<build>): headers from the source tree,
# the library where it was built.
export(EXPORT framepipeTargets NAMESPACE framepipe:: FILE "${PROJECT_BINARY_DIR}/framepipeTargets.cmake")

configure_package_config_file(cmake/framepipeConfig.cmake.in "${PROJECT_BINARY_DIR}/framepipeConfig.cmake"
                              INSTALL_DESTINATION "${FRAMEPIPE_CMAKE_DIR}")
# 0.x: a minor version may break the API, so only patch releases of the requested minor version satisfy a request.
write_basic_package_version_file("${PROJECT_BINARY_DIR}/framepipeConfigVersion.cmake"
                                 COMPATIBILITY SameMinorVersion)
install(FILES "${PROJECT_BINARY_DIR}/framepipeConfig.cmake" "${PROJECT_BINARY_DIR}/framepipeConfigVersion.cmake"
        DESTINATION "${FRAMEPIPE_CMAKE_DIR}")

# framepipe.pc: OpenCV is in the public headers. A static library's own dependencies must be linked by the consumer,
# and with only libframepipe.a installed nobody passes --static, so they are plain Requires; a shared library links
# them itself (Requires.private). nlohmann_json is header-only and needs nothing at link time. The prefix is found
# from the .pc file's own place, so the file stays right wherever `cmake --install --prefix` puts it.
set(FRAMEPIPE_PC_REQUIRES opencv4)
set(FRAMEPIPE_PC_REQUIRES_PRIVATE tbb fmt spdlog yaml-cpp libjpeg ${FRAMEPIPE_LIBAV_MODULES})
if(FRAMEPIPE_LIBRARY_TYPE STREQUAL "STATIC_LIBRARY")
  list(APPEND FRAMEPIPE_PC_REQUIRES ${FRAMEPIPE_PC_REQUIRES_PRIVATE})
  set(FRAMEPIPE_PC_REQUIRES_PRIVATE "")
endif()
string(REPLACE ";" " " FRAMEPIPE_PC_REQUIRES "${FRAMEPIPE_PC_REQUIRES}")
string(REPLACE ";" " " FRAMEPIPE_PC_REQUIRES_PRIVATE "${FRAMEPIPE_PC_REQUIRES_PRIVATE}")
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(FRAMEPIPE_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
  set(FRAMEPIPE_PC_LIBDIR "${CMAKE_INSTALL_LIBDIR}")
else()
  file(RELATIVE_PATH up "/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/")
  string(REGEX REPLACE "/$" "" up "${up}")
  set(FRAMEPIPE_PC_PREFIX "\${pcfiledir}/${up}")
  set(FRAMEPIPE_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
endif()
if(IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(FRAMEPIPE_PC_INCLUDEDIR "${CMAKE_INSTALL_INCLUDEDIR}")
else()
  set(FRAMEPIPE_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
configure_file(cmake/framepipe.pc.in "${PROJECT_BINARY_DIR}/framepipe.pc" @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/framepipe.pc" DESTINATION "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
