/* Stopping signals (see signals.h). The handler only stores the signal and forwards it: both async-signal-safe. */
#include "jobs/signals.h"

#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "jobs/cmd.h"
#include "jobs/reaper.h"

static atomic_int g_received;
static atomic_int g_installed;

static void on_signal(int sig) {
  int first = 0;
  if (!atomic_compare_exchange_strong(&g_received, &first, sig)) _exit(INB__EXIT_STOPPED); /* the second one */
  inb__reaper_signal_all(sig); /* the tasks in flight hear it as they would from the scheduler */
  static const char msg[] = "inbatch: stopping (signal received): no new task starts; a second signal ends at once\n";
  ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
  (void)w;
}

void inb__signals_install(void) {
  int no = 0;
  if (!atomic_compare_exchange_strong(&g_installed, &no, 1)) return;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  static const int sigs[] = {SIGTERM, SIGINT, SIGUSR1};
  for (size_t k = 0; k < sizeof sigs / sizeof sigs[0]; k++) sigaction(sigs[k], &sa, NULL);
}

int inb__signals_received(void) { return atomic_load(&g_received); }

void inb__signals_reset(void) { atomic_store(&g_received, 0); }
