/* nncl-info: lists the OpenCL platforms and devices nncl can use, marks the
 * one a context picks by default (or by NNCL_DEVICE), and shows the kernel
 * cache directory. */
#include <nncl.h>

#include <stdio.h>
#include <stdlib.h>

static const char *type_name(nncl_device_type t) {
    switch (t) {
    case NNCL_DEVICE_GPU:
        return "GPU";
    case NNCL_DEVICE_CPU:
        return "CPU";
    case NNCL_DEVICE_ACCELERATOR:
        return "accelerator";
    default:
        return "other";
    }
}

static double mib(uint64_t bytes) {
    return (double)bytes / (1024.0 * 1024.0);
}

int main(int argc, char **argv) {
    if (argc > 1) {
        fprintf(stderr,
                "usage: %s\n  Lists OpenCL devices. NNCL_DEVICE=gpu|cpu|P:D|name picks "
                "one; NNCL_CACHE_DIR sets the kernel cache (off disables it).\n",
                argv[0]);
        return 2;
    }
    size_t count = 0;
    if (nncl_devices(NULL, 0, &count) != NNCL_OK) {
        fprintf(stderr, "nncl-info: %s\n", nncl_last_error());
        return 1;
    }
    nncl_device_info *devices = calloc(count, sizeof *devices);
    if (!devices || nncl_devices(devices, count, &count) != NNCL_OK) {
        fprintf(stderr, "nncl-info: %s\n", devices ? nncl_last_error() : "out of memory");
        free(devices);
        return 1;
    }
    int last_platform = -1;
    for (size_t i = 0; i < count; i++) {
        const nncl_device_info *d = &devices[i];
        if (d->platform_index != last_platform) {
            printf("Platform %d: %s (%s)\n", d->platform_index, d->platform_name,
                   d->platform_version);
            last_platform = d->platform_index;
        }
        printf("  %s %d:%d  %s [%s]\n", d->is_default ? "*" : " ", d->platform_index,
               d->device_index, d->name, type_name(d->type));
        printf("        vendor %s, driver %s\n", d->vendor, d->driver_version);
        printf("        %s, %s\n", d->device_version, d->opencl_c_version);
        printf("        compute units %u, max work-group %llu, float vector width %u\n",
               d->compute_units, (unsigned long long)d->max_work_group_size, d->float_vector_width);
        printf("        global memory %.0f MiB, local %.0f KiB, max allocation %.0f MiB\n",
               mib(d->global_mem_bytes), (double)d->local_mem_bytes / 1024.0,
               mib(d->max_alloc_bytes));
        printf("        fp16 %s, fp64 %s\n", d->fp16 ? "yes" : "no", d->fp64 ? "yes" : "no");
    }
    free(devices);
    printf("(* = default device: first GPU, else first CPU)\n");
    nncl_context *ctx;
    if (getenv("NNCL_DEVICE")) {
        if (nncl_context_create(NULL, &ctx) != NNCL_OK) {
            fprintf(stderr, "nncl-info: NNCL_DEVICE=%s: %s\n", getenv("NNCL_DEVICE"),
                    nncl_last_error());
            return 1;
        }
        const nncl_device_info *d = nncl_context_device(ctx);
        printf("NNCL_DEVICE=%s selects %d:%d %s\n", getenv("NNCL_DEVICE"), d->platform_index,
               d->device_index, d->name);
        nncl_context_destroy(ctx);
    }
    char dir[1024];
    if (nncl_cache_dir(NULL, dir, sizeof dir) == NNCL_OK) printf("Kernel cache: %s\n", dir);
    return 0;
}
