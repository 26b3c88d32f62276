# Installation: libiodb (static and shared), include/iodb.h, iodb.pc for pkg-config, and a
# CMake config package so that a consumer can write
#
#     find_package(iodb REQUIRED)
#     target_link_libraries(app PRIVATE iodb::iodb)          # static libiodb.a
#     target_link_libraries(app PRIVATE iodb::iodb_shared)   # shared libiodb.so
#
# The build tree holds the same package (iodbConfig.cmake, iodbTargets.cmake), usable with
# -Diodb_DIR=<build dir>.
#
# Included last from the top-level CMakeLists.txt, after every target exists.
# tests/consumer/ installs a build into a temporary prefix and checks all of this.

include(CMakePackageConfigHelpers)

set(IODB_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/iodb)

# In a consumer, iodb::iodb is the static library (as the alias is in this tree).
set_target_properties(iodb_static PROPERTIES EXPORT_NAME iodb)
set_target_properties(iodb_shared PROPERTIES EXPORT_NAME iodb_shared)

# iodb_static links iodb_roaring PUBLIC, so the export set must contain it. Its absolute
# paths belong to this machine's build only: the exported iodb::roaring is left empty and
# iodbConfig.cmake fills it in with the roaring library it finds on the consumer's machine.
set_target_properties(iodb_roaring PROPERTIES
  EXPORT_NAME roaring
  INTERFACE_INCLUDE_DIRECTORIES "$<BUILD_INTERFACE:${ROARING_INCLUDE_DIR}>"
  INTERFACE_LINK_LIBRARIES "$<BUILD_INTERFACE:${ROARING_LIBRARY}>")

# A library built with sanitizers needs their runtime in whatever links it.
if(IODB_SANITIZE)
  target_link_options(iodb_static INTERFACE -fsanitize=${IODB_SANITIZE})
  target_link_options(iodb_shared INTERFACE -fsanitize=${IODB_SANITIZE})
endif()

install(TARGETS iodb_static iodb_shared iodb_roaring
  EXPORT iodbTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${PROJECT_SOURCE_DIR}/include/iodb.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

install(EXPORT iodbTargets
  NAMESPACE iodb::
  FILE iodbTargets.cmake
  DESTINATION ${IODB_INSTALL_CMAKEDIR})

# The same package for the build tree: find_package(iodb) with -Diodb_DIR=<build dir>
# (tests/readme builds the README example this way).
export(EXPORT iodbTargets NAMESPACE iodb:: FILE ${PROJECT_BINARY_DIR}/iodbTargets.cmake)

configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/iodbConfig.cmake.in
  ${PROJECT_BINARY_DIR}/iodbConfig.cmake
  INSTALL_DESTINATION ${IODB_INSTALL_CMAKEDIR})
# 0.x: the API may change between minor versions.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/iodbConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/iodbConfig.cmake ${PROJECT_BINARY_DIR}/iodbConfigVersion.cmake
  DESTINATION ${IODB_INSTALL_CMAKEDIR})

# iodb.pc. The prefix is computed from the file's own location (${pcfiledir}), so the file
# stays right whatever --prefix `cmake --install` is given.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(_iodb_pc_libdir "${CMAKE_INSTALL_LIBDIR}")
else()
  set(_iodb_pc_libdir "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
endif()
if(IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(_iodb_pc_includedir "${CMAKE_INSTALL_INCLUDEDIR}")
else()
  set(_iodb_pc_includedir "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(_iodb_pc_prefix "${CMAKE_INSTALL_PREFIX}")
else()
  file(RELATIVE_PATH _iodb_pc_up "/p/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/p")
  string(REGEX REPLACE "/+$" "" _iodb_pc_up "${_iodb_pc_up}")
  set(_iodb_pc_prefix "\${pcfiledir}/${_iodb_pc_up}")
endif()
set(_iodb_pc_requires "liblz4")
if(IODB_USE_JEMALLOC)
  string(APPEND _iodb_pc_requires " jemalloc")
endif()
set(_iodb_pc_libs_private "-lroaring -lcrypto -lpthread")
if(IODB_SANITIZE)
  string(APPEND _iodb_pc_libs_private " -fsanitize=${IODB_SANITIZE}")
endif()
configure_file(${CMAKE_CURRENT_LIST_DIR}/iodb.pc.in ${PROJECT_BINARY_DIR}/iodb.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/iodb.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
