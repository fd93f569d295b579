/* segv: a NULL write with no handler kills the process by SIGSEGV; the
 * runtime reports status 128 + 11 = 139. */
#include "common.h"

int main(void) {
  guest_init("segv");
  OUT("writing to NULL");
  *(volatile int *)0 = 1;
  OUT("survived the NULL write");
  return 0;
}
