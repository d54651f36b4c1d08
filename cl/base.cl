/* Helpers several kernel files share. Kernels are one program, built from
 * the files in name order, so this file comes before any that uses it. */

/* The eight lanes of an int8 argument as an array (shapes and strides of
 * up to 8 dims travel as int8). */
void int8_lanes(int8 v, int *out) {
    out[0] = v.s0, out[1] = v.s1, out[2] = v.s2, out[3] = v.s3;
    out[4] = v.s4, out[5] = v.s5, out[6] = v.s6, out[7] = v.s7;
}
