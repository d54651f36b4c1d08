/* Helpers several kernel files share. Kernels are one program, built from
 * the files in name order, so this file comes before any that uses it. */

/* floatV: NNCL_VEC floats (1, 4 or 8, from the device or forced), for the
 * kernels that stream contiguous values: wide loads on CPUs, plain ones on
 * GPUs, whose work-items are the lanes. sumV adds the lanes. */
#ifndef NNCL_VEC
#define NNCL_VEC 8
#endif
#if NNCL_VEC == 8
#define floatV float8
#define intV int8
#define vloadV vload8
#define vstoreV vstore8
#define sumV(v) sum_lanes4((v).lo + (v).hi)
#elif NNCL_VEC == 4
#define floatV float4
#define intV int4
#define vloadV vload4
#define vstoreV vstore4
#define sumV(v) sum_lanes4(v)
#elif NNCL_VEC == 1
#define floatV float
#define intV int
#define vloadV(i, p) ((p)[i])
#define vstoreV(v, i, p) ((p)[i] = (v))
#define sumV(v) (v)
#else
#error "NNCL_VEC must be 1, 4 or 8"
#endif

float sum_lanes4(float4 v) {
    return v.x + v.y + v.z + v.w;
}

/* The eight lanes of an int8 argument as an array (shapes and strides of
 * up to 8 dims travel as int8). */
void int8_lanes(int8 v, int *out) {
    out[0] = v.s0, out[1] = v.s1, out[2] = v.s2, out[3] = v.s3;
    out[4] = v.s4, out[5] = v.s5, out[6] = v.s6, out[7] = v.s7;
}
