#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHECK(x)                                                                  \
    do {                                                                          \
        if (!(x)) {                                                               \
            printf("FAILED line %d: %s (errno %d %s)\n", __LINE__, #x, errno, strerror(errno)); \
            return 1;                                                             \
        }                                                                         \
    } while (0)

int main(void) {
    char buf[256];
    int fd = open("/tmp/data.txt", O_CREAT | O_RDWR | O_TRUNC, 0644);
    CHECK(fd >= 0);
    CHECK(write(fd, "hello file\n", 11) == 11);
    CHECK(lseek(fd, 6, SEEK_SET) == 6);
    memset(buf, 0, sizeof buf);
    CHECK(read(fd, buf, sizeof buf) == 5);
    printf("read back: %s", buf);
    struct stat st;
    CHECK(fstat(fd, &st) == 0);
    printf("size=%ld regular=%d mode=%o\n", (long)st.st_size, S_ISREG(st.st_mode), st.st_mode & 0777);
    CHECK(pwrite(fd, "HELLO", 5, 0) == 5);
    CHECK(pread(fd, buf, 5, 0) == 5);
    printf("pread: %.5s\n", buf);
    CHECK(lseek(fd, 0, SEEK_END) == 11);
    close(fd);

    /* Append mode. */
    fd = open("/tmp/data.txt", O_WRONLY | O_APPEND);
    CHECK(fd >= 0);
    CHECK(write(fd, "more\n", 5) == 5);
    close(fd);
    CHECK(stat("/tmp/data.txt", &st) == 0);
    printf("after append size=%ld\n", (long)st.st_size);

    /* Directories. */
    CHECK(mkdir("/tmp/sub", 0755) == 0);
    CHECK(mkdir("/tmp/sub", 0755) == -1 && errno == EEXIST);
    CHECK(symlink("/tmp/data.txt", "/tmp/link") == 0);
    ssize_t n = readlink("/tmp/link", buf, sizeof buf);
    CHECK(n > 0);
    printf("readlink: %.*s\n", (int)n, buf);
    CHECK(lstat("/tmp/link", &st) == 0 && S_ISLNK(st.st_mode));
    CHECK(rename("/tmp/data.txt", "/tmp/sub/moved.txt") == 0);
    CHECK(stat("/tmp/link", &st) == -1 && errno == ENOENT);
    CHECK(chdir("/tmp/sub") == 0);
    CHECK(getcwd(buf, sizeof buf) != NULL);
    printf("cwd=%s\n", buf);
    CHECK(access("moved.txt", R_OK | W_OK) == 0);
    CHECK(access("missing", F_OK) == -1 && errno == ENOENT);

    DIR *d = opendir("/tmp");
    CHECK(d != NULL);
    struct dirent *e;
    int count = 0;
    char names[512] = "";
    while ((e = readdir(d)) != NULL) {
        count++;
        if (e->d_name[0] != '.') {
            strcat(names, e->d_name);
            strcat(names, e->d_type == DT_DIR ? "/ " : e->d_type == DT_LNK ? "@ " : " ");
        }
    }
    closedir(d);
    printf("entries=%d: %s\n", count, names);

    /* dup, fcntl. */
    fd = open("moved.txt", O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0);
    CHECK(fcntl(fd, F_GETFD) == FD_CLOEXEC);
    int fd2 = dup(fd);
    CHECK(fd2 > fd && fcntl(fd2, F_GETFD) == 0);
    CHECK(dup2(fd, 20) == 20);
    CHECK(fcntl(fd, F_DUPFD_CLOEXEC, 30) == 30);
    CHECK((fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDONLY);
    CHECK(read(20, buf, 5) == 5);
    CHECK(lseek(fd, 0, SEEK_CUR) == 5); /* shared offset */
    CHECK(write(fd, "x", 1) == -1 && errno == EBADF);
    CHECK(close(fd2) == 0 && close(fd2) == -1 && errno == EBADF);
    CHECK(isatty(fd) == 0 && errno == ENOTTY);

    CHECK(unlink("moved.txt") == 0);
    CHECK(open("moved.txt", O_RDONLY) == -1 && errno == ENOENT);
    CHECK(rmdir("/tmp/sub") == 0);
    CHECK(open("/dev/null", O_WRONLY) >= 0);
    int z = open("/dev/zero", O_RDONLY);
    memset(buf, 7, 8);
    CHECK(read(z, buf, 8) == 8 && buf[0] == 0 && buf[7] == 0);
    int u = open("/dev/urandom", O_RDONLY);
    CHECK(read(u, buf, 16) == 16);
    printf("all file checks passed\n");
    return 0;
}
