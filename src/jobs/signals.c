/* Stopping signals (see signals.h). The handler only stores the signal and forwards it: both async-signal-safe. */
#include "jobs/signals.h"

#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jobs/cmd.h"
#include "jobs/reaper.h"

static atomic_int g_received;
static atomic_int g_installed;
static atomic_int g_quiet;   /* ranks other than 0 say nothing: one line per job, not per rank */

static void say(const char *msg, size_t len) {
  if (atomic_load(&g_quiet)) return;
  ssize_t w = write(STDERR_FILENO, msg, len);
  (void)w;
}

static void on_signal(int sig) {
  int first = 0;
  if (!atomic_compare_exchange_strong(&g_received, &first, sig)) _exit(INB__EXIT_STOPPED); /* the second one */
  inb__reaper_signal_all(sig); /* the tasks in flight hear it as they would from the scheduler */
  static const char msg[] = "inbatch: stopping (signal received): no new task starts; a second signal ends at once\n";
  say(msg, sizeof msg - 1);
}

/* A job that cannot stop early and resume (HDF5 pipelines, for now): the scheduler's warning (SIGUSR1) must not
 * kill it before its time limit. */
static void on_warning(int sig) {
  (void)sig;
  int first = 0;
  if (!atomic_compare_exchange_strong(&g_received, &first, sig)) return;
  static const char msg[] = "inbatch: SIGUSR1 ignored: this job cannot stop early and resume (it has several passes, "
                            "a reduction or a compressed output); it goes on\n";
  say(msg, sizeof msg - 1);
}

static void install(void (*handler)(int), const int *sigs, size_t n) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = handler;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  for (size_t k = 0; k < n; k++) sigaction(sigs[k], &sa, NULL);
}

void inb__signals_install(bool quiet) {
  int no = 0;
  if (!atomic_compare_exchange_strong(&g_installed, &no, 1)) return;
  atomic_store(&g_quiet, quiet);
  static const int sigs[] = {SIGTERM, SIGINT, SIGUSR1};
  install(on_signal, sigs, sizeof sigs / sizeof sigs[0]);
}

void inb__signals_ignore_warning(bool quiet) {
  int no = 0;
  if (!atomic_compare_exchange_strong(&g_installed, &no, 1)) return;
  atomic_store(&g_quiet, quiet);
  static const int sigs[] = {SIGUSR1};
  install(on_warning, sigs, 1);
}

bool inb__signals_stopping(int sig) { return sig == SIGTERM || sig == SIGINT || sig == SIGUSR1; }

bool inb__signals_wait(double seconds) {
  for (double t = 0; t < seconds && !atomic_load(&g_received); t += 0.01) {
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  return atomic_load(&g_received) != 0;
}

int inb__signals_received(void) { return atomic_load(&g_received); }

void inb__signals_reset(void) { atomic_store(&g_received, 0); }
