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

# inbatch.pc names a dependency by the pkg-config module that links the very library this build linked, so a
# consumer's `pkg-config --static` resolves the same MPI and HDF5 builds (Debian has several side by side)
# together with their own dependencies. Sets `var` to the first of the candidate modules (ARGN) whose libraries
# include `lib` (compared after resolving symlinks), or to "" when none does.
function(inb_pc_module_of var lib)
  set(${var} "" PARENT_SCOPE)
  get_filename_component(want "${lib}" REALPATH)
  foreach(mod IN LISTS ARGN)
    string(MAKE_C_IDENTIFIER "INB_PC_${mod}" probe)
    pkg_check_modules(${probe} QUIET ${mod})
    foreach(found IN LISTS ${probe}_LINK_LIBRARIES)
      get_filename_component(found "${found}" REALPATH)
      if(found STREQUAL want)
        set(${var} ${mod} PARENT_SCOPE)
        return()
      endif()
    endforeach()
  endforeach()
endfunction()

# What a static link against libinbatch.a needs besides the archive: libuv, MPI and HDF5 (as modules when one
# matches, else as the library files found), and the C runtime's threads and math.
set(INB_PC_REQUIRES_PRIVATE ${LIBUV_MODULE_NAME})
set(INB_PC_LIBS_PRIVATE -lpthread -lm)

set(inb_mpi_module "")
if(MPI_C_LIBRARIES)   # empty where the compiler links MPI by itself (Cray)
  list(GET MPI_C_LIBRARIES 0 inb_mpi_lib)
  inb_pc_module_of(inb_mpi_module "${inb_mpi_lib}" ompi-c mpich mpi-c mpi)
endif()
if(inb_mpi_module)
  list(APPEND INB_PC_REQUIRES_PRIVATE ${inb_mpi_module})
else()
  list(APPEND INB_PC_LIBS_PRIVATE ${MPI_C_LINK_FLAGS} ${MPI_C_LIBRARIES})
endif()

# FindHDF5 gives files, or targets when it used HDF5's own CMake package.
set(inb_hdf5_files "")
set(inb_hdf5_lib "")
foreach(lib IN LISTS HDF5_C_LIBRARIES)
  if(TARGET ${lib})
    get_target_property(lib ${lib} LOCATION)
  endif()
  list(APPEND inb_hdf5_files ${lib})
  get_filename_component(name "${lib}" NAME)
  if(NOT inb_hdf5_lib AND name MATCHES "^libhdf5(_openmpi|_mpich)?\\.")
    set(inb_hdf5_lib ${lib})
  endif()
endforeach()
set(inb_hdf5_module "")
if(inb_hdf5_lib)
  inb_pc_module_of(inb_hdf5_module "${inb_hdf5_lib}" hdf5-openmpi hdf5-mpich hdf5-mpi hdf5)
endif()
if(inb_hdf5_module)
  list(APPEND INB_PC_REQUIRES_PRIVATE ${inb_hdf5_module})
else()
  list(APPEND INB_PC_LIBS_PRIVATE ${inb_hdf5_files})
endif()
list(JOIN INB_PC_REQUIRES_PRIVATE " " INB_PC_REQUIRES_PRIVATE)
list(JOIN INB_PC_LIBS_PRIVATE " " INB_PC_LIBS_PRIVATE)

# The .pc file locates the prefix from its own folder, so an installed tree can be moved; an absolute
# CMAKE_INSTALL_LIBDIR or INCLUDEDIR is written as it is.
foreach(dir LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${dir}}")
    set(INB_PC_${dir} "${CMAKE_INSTALL_${dir}}")
  else()
    set(INB_PC_${dir} "\${prefix}/${CMAKE_INSTALL_${dir}}")
  endif()
endforeach()
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(INB_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  file(RELATIVE_PATH inb_up ${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/pkgconfig ${CMAKE_INSTALL_PREFIX})
  string(REGEX REPLACE "/$" "" inb_up "${inb_up}")
  set(INB_PC_PREFIX "\${pcfiledir}/${inb_up}")
endif()

configure_file(${PROJECT_SOURCE_DIR}/cmake/inbatch.pc.in ${PROJECT_BINARY_DIR}/inbatch.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/inbatch.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
