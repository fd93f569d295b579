/* Device and socket nodes: the sandbox has no CAP_MKNOD, so devices are
 * refused with EPERM (not compared with a native run, where root may
 * create them); socket nodes need no capability. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

int main(void) {
    int r = mknod("/tmp/null", S_IFCHR | 0666, makedev(1, 3));
    printf("S_IFCHR: %d %s\n", r, r ? strerror(errno) : "");
    r = mknod("/tmp/blk", S_IFBLK | 0666, makedev(7, 0));
    printf("S_IFBLK: %d %s\n", r, r ? strerror(errno) : "");
    r = mknod("/tmp/sock", S_IFSOCK | 0666, 0);
    printf("S_IFSOCK: %d %s\n", r, r ? strerror(errno) : "");
    r = mknod("/tmp", S_IFCHR | 0666, 0);
    printf("existing: %d %s\n", r, r ? strerror(errno) : "");
    struct stat st;
    printf("nothing created: %d\n", stat("/tmp/null", &st) < 0 && errno == ENOENT);
    return 0;
}
