/* Fuzzes the image-folder reader: the input is written as the one PNG of
 * class "a" beside a valid image of class "b", and the folder is loaded.
 * Whatever the bytes, loading returns a status and leaks nothing. */
#include "fuzz_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

/* A valid 2x2 gray PNG, for class "b". */
static const uint8_t valid_png[] = {
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44,
    0x52, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x02, 0x08, 0x00, 0x00, 0x00, 0x00, 0x57,
    0xdd, 0x52, 0xf8, 0x00, 0x00, 0x00, 0x0e, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x60,
    0x70, 0x60, 0x68, 0x38, 0x00, 0x00, 0x02, 0xc6, 0x01, 0x81, 0x59, 0xf6, 0x48, 0xcd, 0x00,
    0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char root[256], image[300];
    if (!root[0]) {
        snprintf(root, sizeof root, "%s", fuzz_path("folder"));
        char dir[300];
        mkdir(root, 0755); /* the private directory is new: these cannot exist */
        snprintf(dir, sizeof dir, "%s/a", root);
        mkdir(dir, 0755);
        snprintf(dir, sizeof dir, "%s/b", root);
        mkdir(dir, 0755);
        snprintf(image, sizeof image, "%s/b/valid.png", root);
        fuzz_write(image, valid_png, sizeof valid_png, 0);
        snprintf(image, sizeof image, "%s/a/input.png", root);
    }
    fuzz_write(image, data, size, 0);
    nncl_dataset *ds;
    if (nncl_dataset_load_image_folder(root, &ds) == NNCL_OK) nncl_dataset_destroy(ds);
    return 0;
}
