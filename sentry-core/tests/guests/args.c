#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

int main(int argc, char **argv) {
    printf("argc=%d\n", argc);
    for (int i = 0; i < argc; i++) printf("argv[%d]=%s\n", i, argv[i]);
    printf("GREETING=%s\n", getenv("GREETING") ? getenv("GREETING") : "(unset)");
    printf("pagesz=%lu\n", getauxval(AT_PAGESZ));
    printf("clktck=%lu\n", getauxval(AT_CLKTCK));
    printf("uid=%lu euid=%lu gid=%lu\n", getauxval(AT_UID), getauxval(AT_EUID), getauxval(AT_GID));
    printf("secure=%lu\n", getauxval(AT_SECURE));
    const unsigned char *r = (const unsigned char *)getauxval(AT_RANDOM);
    int nonzero = 0;
    for (int i = 0; i < 16; i++) nonzero |= r[i];
    printf("random_readable=%d\n", r != NULL && nonzero != 0);
    printf("platform=%s\n", (const char *)getauxval(AT_PLATFORM));
    printf("execfn=%s\n", (const char *)getauxval(AT_EXECFN));
    printf("phdr_set=%d entry_set=%d\n", getauxval(AT_PHDR) != 0, getauxval(AT_ENTRY) != 0);
    printf("pid=%d ppid=%d tid_eq_pid=%d\n", getpid(), getppid(), (int)gettid() == getpid());
    return 0;
}
