# Installs the built project into a scratch prefix, then configures, builds and runs a consumer that finds
# it with find_package (shared and static) and with pkg-config. Run with -DBUILD_DIR=... -DWORK_DIR=...
# -DCONSUMER_DIR=...
function(step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n${out}\n${err}")
  endif()
  message(STATUS "${what}: ok")
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)
step("install" ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})
set(ENV{PKG_CONFIG_PATH} ${prefix}/lib/pkgconfig)
step("configure consumer" ${CMAKE_COMMAND} -S ${CONSUMER_DIR} -B ${WORK_DIR}/consumer -DCMAKE_PREFIX_PATH=${prefix})
step("build consumer" ${CMAKE_COMMAND} --build ${WORK_DIR}/consumer)
foreach(exe consumer_cmake consumer_static consumer_pc)
  set(ENV{LD_LIBRARY_PATH} ${prefix}/lib)
  step("run ${exe}" ${WORK_DIR}/consumer/${exe})
endforeach()
