/* The built-in models, written as a user would write them. */
#include "models.h"

#include <string.h>

/* conv 3x3 32 - BN - ReLU - max pool 2 - conv 3x3 64 - BN - ReLU - max pool 2
 * - flatten - linear 128 - ReLU - dropout 0.5 - linear 10: 421,834 parameters. */
static nncl_node *fashion_cnn(nncl_graph *g, nncl_node *x) {
    nncl_node *h = nncl_conv(
        g, x, &(nncl_conv_params){.out_channels = 32, .kernel = {3, 3}, .padding = {1, 1}},
        "conv1");
    h = nncl_relu(g, nncl_batch_norm(g, h, NULL, "bn1"));
    h = nncl_max_pool(g, h, &(nncl_pool_params){.kernel = {2, 2}}, "pool1");
    h = nncl_conv(g, h,
                  &(nncl_conv_params){.out_channels = 64, .kernel = {3, 3}, .padding = {1, 1}},
                  "conv2");
    h = nncl_relu(g, nncl_batch_norm(g, h, NULL, "bn2"));
    h = nncl_max_pool(g, h, &(nncl_pool_params){.kernel = {2, 2}}, "pool2");
    h = nncl_relu(g, nncl_linear(g, nncl_flatten(g, h), 128, NULL, "fc1"));
    return nncl_linear(g, nncl_dropout(g, h, 0.5f, "dropout"), 10, NULL, "fc2");
}

static const model_info models[] = {
    {"fashion_cnn", "2 conv blocks + 2 linear layers for 1x28x28 images, 10 classes",
     NNCL_SHAPE(1, 28, 28), 10, fashion_cnn},
};

const model_info *model_find(const char *name) {
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++)
        if (!strcmp(models[i].name, name)) return &models[i];
    return NULL;
}

const char *model_names(void) {
    return "fashion_cnn";
}
