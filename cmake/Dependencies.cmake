# Every external dependency is found here, once, so the rest of the build names only imported targets.
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)

find_package(MPI REQUIRED COMPONENTS C)
if(NOT MPIEXEC_PREFLAGS)
  # Open MPI refuses root without this; CI and these machines run as root and have 2 slots.
  execute_process(COMMAND id -u OUTPUT_VARIABLE INB_UID OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(INB_UID STREQUAL "0")
    set(MPIEXEC_PREFLAGS --allow-run-as-root --oversubscribe CACHE STRING "" FORCE)
  else()
    set(MPIEXEC_PREFLAGS --oversubscribe CACHE STRING "" FORCE)
  endif()
endif()

# Debian ships serial and parallel HDF5 side by side; without this FindHDF5 may pick the serial one.
set(HDF5_PREFER_PARALLEL TRUE)
find_package(HDF5 REQUIRED COMPONENTS C)
if(NOT HDF5_IS_PARALLEL)
  message(FATAL_ERROR "inbatch needs parallel HDF5 (Debian: libhdf5-openmpi-dev); found a serial build")
endif()
add_library(inb_hdf5 INTERFACE)
target_include_directories(inb_hdf5 INTERFACE ${HDF5_C_INCLUDE_DIRS} ${HDF5_INCLUDE_DIRS})
target_link_libraries(inb_hdf5 INTERFACE ${HDF5_C_LIBRARIES})
target_compile_definitions(inb_hdf5 INTERFACE ${HDF5_C_DEFINITIONS} ${HDF5_DEFINITIONS})

pkg_check_modules(LIBUV REQUIRED IMPORTED_TARGET libuv)
# The compression codecs of output datasets (src/data/h5codecs.c): their HDF5 filters are the library's own,
# registered in-process, on the codec libraries (Debian: liblz4-dev libzstd-dev libblosc-dev).
pkg_check_modules(LZ4 REQUIRED IMPORTED_TARGET liblz4)
pkg_check_modules(ZSTD REQUIRED IMPORTED_TARGET libzstd)
pkg_check_modules(BLOSC REQUIRED IMPORTED_TARGET blosc)
# What inbatch.pc names for a static link (the modules found here, with their own dependencies).
set(INB_PC_CODEC_MODULES "liblz4 libzstd blosc")
pkg_check_modules(YAML REQUIRED IMPORTED_TARGET yaml-0.1)
if(INB_BUILD_TESTS)
  pkg_check_modules(CMOCKA REQUIRED IMPORTED_TARGET cmocka)
endif()
