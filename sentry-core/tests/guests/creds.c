/* Credentials: set*id rules and capabilities following uid changes, as
 * Linux does for root without SECBIT_KEEP_CAPS. Run as uid 0. */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

static int has_cap(int cap) {
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    if (syscall(SYS_capget, &h, d) != 0) return -1;
    return (d[cap / 32].effective >> (cap % 32)) & 1;
}

int main(void) {
    gid_t gs[2] = {10, 20};
    printf("setgroups: %d\n", setgroups(2, gs));
    gid_t got[4];
    int n = getgroups(4, got);
    printf("getgroups: %d %d %d\n", n, got[0], got[1]);
    printf("root has CAP_SETUID: %d\n", has_cap(CAP_SETUID));
    printf("setresuid(1000,1000,0): %d\n", setresuid(1000, 1000, 0));
    uid_t r, e, s;
    getresuid(&r, &e, &s);
    printf("ids: %d %d %d, CAP_SETUID: %d\n", r, e, s, has_cap(CAP_SETUID));
    printf("setgroups unprivileged: %d errno EPERM: %d\n", setgroups(0, 0), errno == EPERM);
    printf("seteuid(0) via saved id: %d, CAP_SETUID again: %d\n", seteuid(0), has_cap(CAP_SETUID));
    printf("setuid(1000): %d\n", setuid(1000));
    getresuid(&r, &e, &s);
    printf("ids: %d %d %d, CAP_SETUID: %d\n", r, e, s, has_cap(CAP_SETUID));
    errno = 0;
    printf("setuid(0) now: %d errno EPERM: %d\n", setuid(0), errno == EPERM);
    printf("setresgid unprivileged to other gid: %d\n", setresgid(5, -1, -1));
    return 0;
}
