/* Finding OpenCL devices: listing every device of every platform, describing
 * one, and choosing the device a spec such as "gpu", "1:0" or "pthread"
 * names. The default rule is the first GPU anywhere, else the first CPU. */
#include "runtime.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PLATFORMS 16
#define MAX_DEVICES 64

typedef struct device_ref {
    cl_platform_id platform;
    cl_device_id device;
    int32_t platform_index, device_index;
    cl_device_type type;
} device_ref;

static void info_string(cl_device_id d, cl_device_info what, char *buf, size_t size) {
    buf[0] = '\0';
    if (clGetDeviceInfo(d, what, size, buf, NULL) != CL_SUCCESS) buf[0] = '\0';
    buf[size - 1] = '\0';
}

static uint64_t info_u64(cl_device_id d, cl_device_info what) {
    cl_ulong v = 0;
    clGetDeviceInfo(d, what, sizeof v, &v, NULL);
    return v;
}

static bool has_extension(cl_device_id d, const char *ext) {
    size_t size = 0;
    if (clGetDeviceInfo(d, CL_DEVICE_EXTENSIONS, 0, NULL, &size) != CL_SUCCESS || !size)
        return false;
    char *all = malloc(size + 1);
    if (!all) return false;
    bool found = false;
    if (clGetDeviceInfo(d, CL_DEVICE_EXTENSIONS, size, all, NULL) == CL_SUCCESS) {
        all[size] = '\0';
        found = strstr(all, ext) != NULL;
    }
    free(all);
    return found;
}

void nncl_device_describe(cl_platform_id platform, cl_device_id device, nncl_device_info *info) {
    memset(info, 0, sizeof *info);
    clGetPlatformInfo(platform, CL_PLATFORM_NAME, sizeof info->platform_name, info->platform_name,
                      NULL);
    clGetPlatformInfo(platform, CL_PLATFORM_VERSION, sizeof info->platform_version,
                      info->platform_version, NULL);
    info->platform_name[sizeof info->platform_name - 1] = '\0';
    info->platform_version[sizeof info->platform_version - 1] = '\0';
    info_string(device, CL_DEVICE_NAME, info->name, sizeof info->name);
    info_string(device, CL_DEVICE_VENDOR, info->vendor, sizeof info->vendor);
    info_string(device, CL_DEVICE_VERSION, info->device_version, sizeof info->device_version);
    info_string(device, CL_DRIVER_VERSION, info->driver_version, sizeof info->driver_version);
    info_string(device, CL_DEVICE_OPENCL_C_VERSION, info->opencl_c_version,
                sizeof info->opencl_c_version);
    cl_device_type type = 0;
    clGetDeviceInfo(device, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    info->type = (type & CL_DEVICE_TYPE_GPU)           ? NNCL_DEVICE_GPU
                 : (type & CL_DEVICE_TYPE_CPU)         ? NNCL_DEVICE_CPU
                 : (type & CL_DEVICE_TYPE_ACCELERATOR) ? NNCL_DEVICE_ACCELERATOR
                                                       : NNCL_DEVICE_OTHER;
    cl_uint units = 0;
    clGetDeviceInfo(device, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof units, &units, NULL);
    info->compute_units = units;
    info->global_mem_bytes = info_u64(device, CL_DEVICE_GLOBAL_MEM_SIZE);
    info->local_mem_bytes = info_u64(device, CL_DEVICE_LOCAL_MEM_SIZE);
    info->max_alloc_bytes = info_u64(device, CL_DEVICE_MAX_MEM_ALLOC_SIZE);
    size_t wg = 0;
    clGetDeviceInfo(device, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof wg, &wg, NULL);
    info->max_work_group_size = wg;
    cl_uint width = 0;
    clGetDeviceInfo(device, CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT, sizeof width, &width, NULL);
    info->float_vector_width = width;
    info->fp16 = has_extension(device, "cl_khr_fp16");
    info->fp64 = has_extension(device, "cl_khr_fp64");
}

/* Every device of every platform, in order; returns the count. */
static size_t list_devices(device_ref *refs, size_t cap) {
    cl_platform_id platforms[MAX_PLATFORMS];
    cl_uint n_platforms = 0;
    if (clGetPlatformIDs(MAX_PLATFORMS, platforms, &n_platforms) != CL_SUCCESS) return 0;
    size_t n = 0;
    for (cl_uint p = 0; p < n_platforms && p < MAX_PLATFORMS; p++) {
        cl_device_id devices[MAX_DEVICES];
        cl_uint n_devices = 0;
        if (clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, MAX_DEVICES, devices, &n_devices) !=
            CL_SUCCESS)
            continue;
        for (cl_uint d = 0; d < n_devices && d < MAX_DEVICES && n < cap; d++) {
            refs[n].platform = platforms[p];
            refs[n].device = devices[d];
            refs[n].platform_index = (int32_t)p;
            refs[n].device_index = (int32_t)d;
            refs[n].type = 0;
            clGetDeviceInfo(devices[d], CL_DEVICE_TYPE, sizeof refs[n].type, &refs[n].type, NULL);
            n++;
        }
    }
    return n;
}

static long default_index(const device_ref *refs, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (refs[i].type & CL_DEVICE_TYPE_GPU) return (long)i;
    for (size_t i = 0; i < n; i++)
        if (refs[i].type & CL_DEVICE_TYPE_CPU) return (long)i;
    return n ? 0 : -1;
}

nncl_status nncl_devices(nncl_device_info *out, size_t capacity, size_t *count) {
    if (!count) return nncl_fail(NNCL_ERROR_INVALID_ARGUMENT, "nncl_devices: count is NULL");
    device_ref refs[MAX_PLATFORMS * 4];
    size_t n = list_devices(refs, sizeof refs / sizeof refs[0]);
    *count = n;
    if (!n) return nncl_fail(NNCL_ERROR_NO_DEVICE, "no OpenCL platform or device found");
    long def = default_index(refs, n);
    for (size_t i = 0; i < n && i < capacity && out; i++) {
        nncl_device_describe(refs[i].platform, refs[i].device, &out[i]);
        out[i].platform_index = refs[i].platform_index;
        out[i].device_index = refs[i].device_index;
        out[i].is_default = (long)i == def;
    }
    return NNCL_OK;
}

static bool contains_ignore_case(const char *haystack, const char *needle) {
    size_t hn = strlen(haystack), nn = strlen(needle);
    for (size_t i = 0; i + nn <= hn; i++) {
        size_t j = 0;
        while (j < nn &&
               tolower((unsigned char)haystack[i + j]) == tolower((unsigned char)needle[j]))
            j++;
        if (j == nn) return true;
    }
    return false;
}

static long match_spec(const device_ref *refs, size_t n, const char *spec) {
    if (!spec || !*spec) return default_index(refs, n);
    cl_device_type want = 0;
    if (!strcmp(spec, "gpu") || !strcmp(spec, "GPU")) want = CL_DEVICE_TYPE_GPU;
    if (!strcmp(spec, "cpu") || !strcmp(spec, "CPU")) want = CL_DEVICE_TYPE_CPU;
    if (want) {
        for (size_t i = 0; i < n; i++)
            if (refs[i].type & want) return (long)i;
        return -1;
    }
    int p, d, used = 0;
    if (sscanf(spec, "%d:%d%n", &p, &d, &used) == 2 && spec[used] == '\0') {
        for (size_t i = 0; i < n; i++)
            if (refs[i].platform_index == p && refs[i].device_index == d) return (long)i;
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        char name[256];
        info_string(refs[i].device, CL_DEVICE_NAME, name, sizeof name);
        if (contains_ignore_case(name, spec)) return (long)i;
    }
    return -1;
}

nncl_status nncl_device_select(const char *spec, cl_platform_id *platform, cl_device_id *device,
                               nncl_device_info *info) {
    device_ref refs[MAX_PLATFORMS * 4];
    size_t n = list_devices(refs, sizeof refs / sizeof refs[0]);
    if (!n)
        return nncl_fail(NNCL_ERROR_NO_DEVICE,
                         "no OpenCL device found: is an OpenCL driver (ICD) installed? "
                         "On Debian, pocl-opencl-icd provides a CPU device");
    long i = match_spec(refs, n, spec);
    if (i < 0) {
        char list[2048];
        size_t used = 0;
        for (size_t k = 0; k < n && used < sizeof list; k++) {
            char name[256];
            info_string(refs[k].device, CL_DEVICE_NAME, name, sizeof name);
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%d:%d %s", k ? "; " : "",
                                     refs[k].platform_index, refs[k].device_index, name);
        }
        return nncl_fail(NNCL_ERROR_NO_DEVICE,
                         "no OpenCL device matches '%s' (expected gpu, cpu, P:D or part of a "
                         "name); devices: %s",
                         spec, list);
    }
    *platform = refs[i].platform;
    *device = refs[i].device;
    nncl_device_describe(*platform, *device, info);
    info->platform_index = refs[i].platform_index;
    info->device_index = refs[i].device_index;
    info->is_default = i == default_index(refs, n);
    return NNCL_OK;
}
