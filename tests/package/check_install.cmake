# Installs the built project into a scratch prefix and uses it the ways the README documents, in both link
# modes: a CMake project with find_package (inbatch::inbatch, inbatch::inbatch_static) and plain compiler lines
# with pkg-config (--libs, --static --libs). Every program runs without LD_LIBRARY_PATH, as a user's would: the
# shared ones find libinbatch.so by their runpath, libinbatch.so finds MPI and HDF5 by its own.
# Run with -DBUILD_DIR= -DWORK_DIR= -DCONSUMER_DIR= -DLIBDIR= (CMAKE_INSTALL_LIBDIR) -DSONAME= (libinbatch.so.N)
# -DC_COMPILER= -DPKG_CONFIG= -DREADELF= -DDEP_LIBRARIES= (what libinbatch.so links) -DIMPLICIT_DIRS= (the
# linker's own directories).
cmake_minimum_required(VERSION 3.18)   # the project's policies (IN_LIST) in script mode too

# Runs ARGN; stops the test naming `what` when it fails. Its standard output is left in step_out.
function(step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n${out}\n${err}")
  endif()
  set(step_out "${out}" PARENT_SCOPE)
  message(STATUS "${what}: ok")
endfunction()

# The NEEDED entries and the RUNPATH directories of an ELF file.
function(dynamic_section file needed_var runpath_var)
  step("readelf -d ${file}" ${READELF} -d ${file})
  string(REGEX MATCHALL "\\(NEEDED\\)[^\n]*\\[[^]\n]*\\]" lines "${step_out}")
  set(needed "")
  foreach(line IN LISTS lines)
    string(REGEX REPLACE ".*\\[(.*)\\]" "\\1" name "${line}")
    list(APPEND needed ${name})
  endforeach()
  set(runpath "")
  if(step_out MATCHES "\\((RUNPATH|RPATH)\\)[^\n]*\\[([^]\n]*)\\]")
    string(REPLACE ":" ";" runpath "${CMAKE_MATCH_2}")
  endif()
  set(${needed_var} "${needed}" PARENT_SCOPE)
  set(${runpath_var} "${runpath}" PARENT_SCOPE)
endfunction()

unset(ENV{LD_LIBRARY_PATH})
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR}/tmp)
set(ENV{TMPDIR} ${WORK_DIR}/tmp)   # where the consumers create and remove their HDF5 file
set(prefix ${WORK_DIR}/prefix)
set(libdir ${prefix}/${LIBDIR})
step("install" ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})

# libinbatch.so's runpath names the folder of every shared library it links from outside the linker's own
# directories (where the loader would not look).
dynamic_section(${libdir}/libinbatch.so lib_needed lib_runpath)
foreach(dep IN LISTS DEP_LIBRARIES)
  if(NOT IS_ABSOLUTE "${dep}" OR NOT dep MATCHES "\\.so(\\.|$)")
    continue()
  endif()
  get_filename_component(dir ${dep} DIRECTORY)
  if(NOT dir IN_LIST IMPLICIT_DIRS AND NOT dir IN_LIST lib_runpath)
    message(FATAL_ERROR "the installed libinbatch.so links ${dep}, but its runpath (${lib_runpath}) misses ${dir}")
  endif()
endforeach()
message(STATUS "libinbatch.so runpath: ${lib_runpath}")

# CMake: one program per library.
step("configure the CMake consumer" ${CMAKE_COMMAND} -S ${CONSUMER_DIR} -B ${WORK_DIR}/consumer
     -DCMAKE_C_COMPILER=${C_COMPILER} "-DCMAKE_C_FLAGS=-Wall -Wextra -Werror" -DCMAKE_PREFIX_PATH=${prefix})
step("build the CMake consumer" ${CMAKE_COMMAND} --build ${WORK_DIR}/consumer)

# pkg-config: the compiler lines of its users. A static link names the archive itself: -linbatch would pick
# the shared library, which the same folder holds.
set(ENV{PKG_CONFIG_PATH} ${libdir}/pkgconfig)
step("pkg-config --cflags inbatch" ${PKG_CONFIG} --cflags inbatch)
separate_arguments(pc_cflags UNIX_COMMAND "${step_out}")
step("pkg-config --variable=libdir inbatch" ${PKG_CONFIG} --variable=libdir inbatch)
string(STRIP "${step_out}" pc_libdir)
step("pkg-config --libs inbatch" ${PKG_CONFIG} --libs inbatch)
separate_arguments(pc_libs UNIX_COMMAND "${step_out}")
step("pkg-config --static --libs inbatch" ${PKG_CONFIG} --static --libs inbatch)
separate_arguments(pc_static_libs UNIX_COMMAND "${step_out}")
list(TRANSFORM pc_static_libs REPLACE "^-linbatch$" "-l:libinbatch.a")
file(MAKE_DIRECTORY ${WORK_DIR}/pc)
step("build the pkg-config consumer (shared)" ${C_COMPILER} -Wall -Wextra -Werror ${pc_cflags}
     ${CONSUMER_DIR}/main.c -o ${WORK_DIR}/pc/consumer_pc_shared ${pc_libs} -Wl,-rpath,${pc_libdir})
step("build the pkg-config consumer (static)" ${C_COMPILER} -Wall -Wextra -Werror ${pc_cflags}
     ${CONSUMER_DIR}/main.c -o ${WORK_DIR}/pc/consumer_pc_static ${pc_static_libs})

set(expected "inb_run: 100 tasks, sum of squares 328350\ninb_h5: output created, removed\n")
get_filename_component(installed_lib ${libdir}/${SONAME} REALPATH)
foreach(exe consumer/consumer_cmake_shared consumer/consumer_cmake_static pc/consumer_pc_shared
            pc/consumer_pc_static)
  set(path ${WORK_DIR}/${exe})
  dynamic_section(${path} needed runpath)
  step("ldd ${exe}" ldd ${path})
  set(loaded "${step_out}")
  if(loaded MATCHES "not found")
    message(FATAL_ERROR "${exe}: a library is not found without LD_LIBRARY_PATH:\n${loaded}")
  endif()
  if(exe MATCHES "static$")
    # The archive is inside the program, and it brought its dependencies: HDF5 among them.
    if(needed MATCHES "libinbatch")
      message(FATAL_ERROR "${exe} is linked with libinbatch.a but needs the shared library: ${needed}")
    endif()
    if(NOT needed MATCHES "libhdf5")
      message(FATAL_ERROR "${exe} is linked with libinbatch.a but does not link HDF5: ${needed}")
    endif()
  else()
    if(NOT SONAME IN_LIST needed)
      message(FATAL_ERROR "${exe} does not need ${SONAME}: ${needed}")
    endif()
    string(REPLACE "." "\\." soname_re "${SONAME}")
    if(NOT loaded MATCHES "${soname_re} => ([^ \n]+)")
      message(FATAL_ERROR "${exe}: ldd does not resolve ${SONAME}:\n${loaded}")
    endif()
    get_filename_component(resolved ${CMAKE_MATCH_1} REALPATH)
    if(NOT resolved STREQUAL installed_lib)
      message(FATAL_ERROR "${exe} loads ${resolved}, not the installed ${installed_lib} (runpath: ${runpath})")
    endif()
  endif()
  step("run ${exe}" ${path})
  if(NOT step_out STREQUAL expected)
    message(FATAL_ERROR "${exe} printed\n${step_out}\ninstead of\n${expected}")
  endif()
endforeach()
