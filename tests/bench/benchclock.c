/* Clocks the benchmarks share (see benchclock.h). */
#include "benchclock.h"

#include <stdio.h>
#include <unistd.h>

double clock_s(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double now_s(void) { return clock_s(CLOCK_MONOTONIC); }

double machine_cpu_s(void) {
  unsigned long long v[8] = {0};
  FILE *f = fopen("/proc/stat", "r");
  int got = f ? fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                       &v[6], &v[7]) : 0;
  if (f) fclose(f);
  long tck = sysconf(_SC_CLK_TCK);
  return got == 8 && tck > 0 ? (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / (double)tck : -1;
}
