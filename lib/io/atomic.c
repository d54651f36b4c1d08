/* Atomic file writes (atomic.h): temporary, fsync, rename, directory
 * fsync, the sequence after which either file is whole on disk. */
#define _POSIX_C_SOURCE 200809L
#include "atomic.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* fsync of the directory holding path, so the rename itself is durable. */
static void sync_dir(const char *path) {
    char dir[1200];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    int fd = open(dir, O_RDONLY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* Removes "<path>.tmp.<pid>" files of processes that no longer run: what a
 * save killed between creating its temporary and renaming it left. */
static void remove_stale_temporaries(const char *path) {
    char dir[1200];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    const char *base = slash ? slash + 1 : path;
    if (slash)
        *(slash == dir ? slash + 1 : slash) = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    size_t n = strlen(base);
    DIR *d = opendir(dir);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        const char *name = e->d_name;
        if (strncmp(name, base, n) || strncmp(name + n, ".tmp.", 5)) continue;
        char *end;
        long pid = strtol(name + n + 5, &end, 10);
        if (*end || pid <= 0 || pid == (long)getpid()) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue; /* alive, or not ours to judge */
        char stale[2600];
        snprintf(stale, sizeof stale, "%s/%s", dir, name);
        unlink(stale);
    }
    closedir(d);
}

nncl_status nncl_write_atomic(const char *path, const nncl_chunk *chunks, size_t n) {
    remove_stale_temporaries(path);
    char tmp[1300];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) return nncl_fail(NNCL_ERROR_IO, "%s: cannot create %s: %s", path, tmp, strerror(errno));
    bool ok = true;
    for (size_t i = 0; ok && i < n; i++)
        ok = fwrite(chunks[i].data, 1, chunks[i].bytes, f) == chunks[i].bytes;
    ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
    int saved = errno;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        if (ok) saved = errno;
        remove(tmp);
        return nncl_fail(NNCL_ERROR_IO, "%s: writing failed: %s", path, strerror(saved));
    }
    sync_dir(path);
    return NNCL_OK;
}
