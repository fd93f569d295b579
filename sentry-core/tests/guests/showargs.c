/* Prints its arguments, AT_EXECFN and its name: an interpreter for scripts. */
#include <stdio.h>
#include <sys/auxv.h>
#include <sys/prctl.h>

int main(int argc, char **argv) {
    for (int i = 0; i < argc; i++) printf("[%s]", argv[i]);
    char comm[16] = {0};
    prctl(PR_GET_NAME, comm);
    printf("\nexecfn=%s comm=%s\n", (const char *)getauxval(AT_EXECFN), comm);
    return 0;
}
