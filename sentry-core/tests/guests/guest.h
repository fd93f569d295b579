/* What the differential guests share: errno names and a one-line report
 * of a call's result. Included by guests that print results of calls. */
#ifndef RVISOR_GUEST_H
#define RVISOR_GUEST_H

#include <errno.h>
#include <stdio.h>

/* The symbolic name of errno value `e` ("other" for the rest). */
static inline const char *en(int e) {
    switch (e) {
    case 0: return "OK";
    case E2BIG: return "E2BIG";
    case EACCES: return "EACCES";
    case EADDRINUSE: return "EADDRINUSE";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case EAGAIN: return "EAGAIN";
    case EALREADY: return "EALREADY";
    case EBADF: return "EBADF";
    case EBUSY: return "EBUSY";
    case ECHILD: return "ECHILD";
    case ECONNREFUSED: return "ECONNREFUSED";
    case ECONNRESET: return "ECONNRESET";
    case EDESTADDRREQ: return "EDESTADDRREQ";
    case EEXIST: return "EEXIST";
    case EFAULT: return "EFAULT";
    case EFBIG: return "EFBIG";
    case EIDRM: return "EIDRM";
    case EINPROGRESS: return "EINPROGRESS";
    case EINTR: return "EINTR";
    case EINVAL: return "EINVAL";
    case EISCONN: return "EISCONN";
    case EISDIR: return "EISDIR";
    case ELOOP: return "ELOOP";
    case EMFILE: return "EMFILE";
    case EMSGSIZE: return "EMSGSIZE";
    case ENETUNREACH: return "ENETUNREACH";
    case ENODEV: return "ENODEV";
    case ENOENT: return "ENOENT";
    case ENOMSG: return "ENOMSG";
    case ENOPROTOOPT: return "ENOPROTOOPT";
    case ENOSPC: return "ENOSPC";
    case ENOTCONN: return "ENOTCONN";
    case ENOTDIR: return "ENOTDIR";
    case ENOTSOCK: return "ENOTSOCK";
    case ENXIO: return "ENXIO";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case EPERM: return "EPERM";
    case EPIPE: return "EPIPE";
    case EPROTONOSUPPORT: return "EPROTONOSUPPORT";
    case EPROTOTYPE: return "EPROTOTYPE";
    case ERANGE: return "ERANGE";
    case ESOCKTNOSUPPORT: return "ESOCKTNOSUPPORT";
    case ESPIPE: return "ESPIPE";
    default: return "other";
    }
}

/* Prints "label = v", or "label = -1 ENAME" for a failed call; returns v. */
static inline long show(const char *label, long v) {
    if (v < 0)
        printf("%s = -1 %s\n", label, en(errno));
    else
        printf("%s = %ld\n", label, v);
    return v;
}

/* Prints "label: v", or "label: ENAME" for a failed call. */
#define SHOW(label, call)                            \
    do {                                             \
        errno = 0;                                   \
        long r_ = (long)(call);                      \
        if (r_ < 0)                                  \
            printf("%s: %s\n", label, en(errno));    \
        else                                         \
            printf("%s: %ld\n", label, r_);          \
    } while (0)

/* Stops the guest, saying where, when `x` does not hold. */
#define CHECK(x)                                                                          \
    do {                                                                                  \
        if (!(x)) {                                                                       \
            printf("FAILED line %d: %s (errno %d %s)\n", __LINE__, #x, errno, en(errno)); \
            exit(1);                                                                      \
        }                                                                                 \
    } while (0)

#endif
