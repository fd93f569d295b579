#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void) {
    /* 1 MiB, every page touched. */
    size_t big = 1 << 20;
    unsigned char *p = malloc(big);
    if (!p) return 1;
    for (size_t i = 0; i < big; i += 4096) p[i] = (unsigned char)(i >> 12);
    unsigned long sum = 0;
    for (size_t i = 0; i < big; i += 4096) sum += p[i];
    printf("big sum=%lu\n", sum);

    /* 100 small blocks from the brk heap. */
    char *blocks[100];
    for (int i = 0; i < 100; i++) {
        blocks[i] = malloc(100 + i);
        memset(blocks[i], i, 100 + i);
    }
    int ok = 1;
    for (int i = 0; i < 100; i++)
        for (int j = 0; j < 100 + i; j++) ok &= blocks[i][j] == (char)i;
    for (int i = 0; i < 100; i++) free(blocks[i]);
    printf("small ok=%d\n", ok);

    /* realloc of a large block (mremap). */
    p = realloc(p, 8 << 20);
    ok = 1;
    for (size_t i = 0; i < big; i += 4096) ok &= p[i] == (unsigned char)(i >> 12);
    memset(p + big, 0x5a, (8 << 20) - big);
    printf("realloc ok=%d last=%x\n", ok, p[(8 << 20) - 1]);
    free(p);

    /* brk directly (musl's sbrk refuses to move the break). */
    char *cur = (char *)syscall(SYS_brk, 0);
    char *want = cur + 3 * 4096;
    if ((char *)syscall(SYS_brk, want) != want) return 2;
    memset(cur, 1, 3 * 4096);
    printf("brk ok=%d\n", (char *)syscall(SYS_brk, 0) == want);

    /* mmap, mprotect, munmap. */
    char *m = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return 3;
    printf("fresh zero=%d\n", m[3 * 4096 + 7] == 0);
    strcpy(m, "mapped");
    if (mprotect(m, 4096, PROT_READ) != 0) return 4;
    printf("after mprotect: %s\n", m);
    if (munmap(m + 4096, 4096) != 0) return 5;
    m[2 * 4096] = 'x';
    printf("munmap hole ok\n");
    /* Shared anonymous memory. */
    int *s = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    s[10] = 1234;
    printf("shared=%d\n", s[10]);
    /* Bad requests. */
    errno = 0;
    void *bad = mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("zero-length mmap: %s\n", bad == MAP_FAILED && errno == EINVAL ? "EINVAL" : "unexpected");
    errno = 0;
    int r = munmap((void *)0x10001, 4096);
    printf("unaligned munmap: %s\n", r == -1 && errno == EINVAL ? "EINVAL" : "unexpected");
    return 0;
}
