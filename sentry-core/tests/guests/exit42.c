#include <stdlib.h>
#include <unistd.h>
int main(void) {
    write(1, "exiting\n", 8);
    exit(42);
}
