/* What the differential guests share: errno names and a one-line report
 * of a call's result. Included by guests that print results of calls. */
#ifndef RVISOR_GUEST_H
#define RVISOR_GUEST_H

#include <errno.h>
#include <stdio.h>

/* The symbolic name of errno value `e` ("other" for the rest). */
static const char *en(int e) {
    switch (e) {
    case E2BIG: return "E2BIG";
    case EACCES: return "EACCES";
    case EAGAIN: return "EAGAIN";
    case EBADF: return "EBADF";
    case EBUSY: return "EBUSY";
    case ECHILD: return "ECHILD";
    case EEXIST: return "EEXIST";
    case EFAULT: return "EFAULT";
    case EINTR: return "EINTR";
    case EINVAL: return "EINVAL";
    case EISDIR: return "EISDIR";
    case ELOOP: return "ELOOP";
    case EMFILE: return "EMFILE";
    case ENOENT: return "ENOENT";
    case ENOSPC: return "ENOSPC";
    case ENOTDIR: return "ENOTDIR";
    case ENXIO: return "ENXIO";
    case EPERM: return "EPERM";
    case EPIPE: return "EPIPE";
    case ESPIPE: return "ESPIPE";
    default: return "other";
    }
}

/* Prints "label = v", or "label = -1 ENAME" for a failed call; returns v. */
static long show(const char *label, long v) {
    if (v < 0)
        printf("%s = -1 %s\n", label, en(errno));
    else
        printf("%s = %ld\n", label, v);
    return v;
}

#endif
