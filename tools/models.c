/* The built-in models, written as a user would write them. */
#include "models.h"

#include <stdio.h>
#include <string.h>

/* conv 3x3 32 - BN - ReLU - max pool 2 - conv 3x3 64 - BN - ReLU - max pool 2
 * - flatten - linear 128 - ReLU - dropout 0.5 - linear 10: 421,834 parameters. */
static nncl_node *fashion_cnn(nncl_graph *g, nncl_node *x) {
    nncl_node *h = nncl_conv(
        g, x, &(nncl_conv_params){.out_channels = 32, .kernel = {3, 3}, .padding = {1, 1}},
        "conv1");
    h = nncl_relu(g, nncl_batch_norm(g, h, NULL, "bn1"), NULL);
    h = nncl_max_pool(g, h, &(nncl_pool_params){.kernel = {2, 2}}, "pool1");
    h = nncl_conv(g, h,
                  &(nncl_conv_params){.out_channels = 64, .kernel = {3, 3}, .padding = {1, 1}},
                  "conv2");
    h = nncl_relu(g, nncl_batch_norm(g, h, NULL, "bn2"), NULL);
    h = nncl_max_pool(g, h, &(nncl_pool_params){.kernel = {2, 2}}, "pool2");
    h = nncl_relu(g, nncl_linear(g, nncl_flatten(g, h, NULL), 128, NULL, "fc1"), NULL);
    return nncl_linear(g, nncl_dropout(g, h, 0.5f, "dropout"), 10, NULL, "fc2");
}

/* conv - BN (- ReLU), the unit every residual block is made of. */
static nncl_node *conv_bn(nncl_graph *g, nncl_node *x, int64_t out, int64_t k, int64_t stride,
                          const char *prefix, const char *conv, const char *bn, bool relu) {
    char cname[64], bname[64];
    snprintf(cname, sizeof cname, "%s.%s", prefix, conv);
    snprintf(bname, sizeof bname, "%s.%s", prefix, bn);
    nncl_node *h = nncl_conv(g, x,
                             &(nncl_conv_params){.out_channels = out,
                                                 .kernel = {k, k},
                                                 .stride = {stride, stride},
                                                 .padding = {k / 2, k / 2},
                                                 .no_bias = true},
                             cname);
    h = nncl_batch_norm(g, h, NULL, bname);
    return relu ? nncl_relu(g, h, NULL) : h;
}

/* torchvision's BasicBlock: two 3x3 conv-BN, a 1x1 conv-BN projection when
 * the shape changes, added, then ReLU. Names follow torchvision
 * (layer1.0.conv1, layer2.0.downsample.0). */
static nncl_node *basic_block(nncl_graph *g, nncl_node *x, int64_t out, int64_t stride,
                              const char *name) {
    nncl_node *h = conv_bn(g, x, out, 3, stride, name, "conv1", "bn1", true);
    h = conv_bn(g, h, out, 3, 1, name, "conv2", "bn2", false);
    nncl_node *shortcut = x;
    if (stride != 1 || nncl_node_shape(x).dims[1] != out)
        shortcut = conv_bn(g, x, out, 1, stride, name, "downsample.0", "downsample.1", false);
    return nncl_relu(g, nncl_add(g, h, shortcut, NULL), NULL);
}

/* ResNet-18 for 3x32x32 images: a 3x3 stem without max pooling, four
 * stages of two basic blocks (64, 128, 256, 512 channels), global average
 * pooling and a linear classifier: 11,173,962 parameters. */
static nncl_node *resnet18_cifar(nncl_graph *g, nncl_node *x) {
    nncl_node *h =
        nncl_conv(g, x,
                  &(nncl_conv_params){
                      .out_channels = 64, .kernel = {3, 3}, .padding = {1, 1}, .no_bias = true},
                  "conv1");
    h = nncl_relu(g, nncl_batch_norm(g, h, NULL, "bn1"), NULL);
    static const int64_t widths[4] = {64, 128, 256, 512};
    for (int stage = 0; stage < 4; stage++)
        for (int b = 0; b < 2; b++) {
            char name[32];
            snprintf(name, sizeof name, "layer%d.%d", stage + 1, b);
            h = basic_block(g, h, widths[stage], stage > 0 && b == 0 ? 2 : 1, name);
        }
    h = nncl_flatten(g, nncl_global_avg_pool(g, h, "avgpool"), NULL);
    return nncl_linear(g, h, 10, NULL, "fc");
}

/* Block i (from 1) of a plain CNN: conv (same padding) - BN - ReLU - max
 * pool 2, in as many spatial dims as `spatial`, named conv<i>, bn<i>, pool<i>. */
static nncl_node *conv_block(nncl_graph *g, nncl_node *h, int i, int spatial, int64_t width,
                             int64_t k) {
    char conv[16], bn[16], pool[16];
    snprintf(conv, sizeof conv, "conv%d", i);
    snprintf(bn, sizeof bn, "bn%d", i);
    snprintf(pool, sizeof pool, "pool%d", i);
    nncl_conv_params c = {.out_channels = width};
    nncl_pool_params p = {.stride = {0}};
    for (int d = 0; d < spatial; d++) {
        c.kernel[d] = k;
        c.padding[d] = k / 2;
        p.kernel[d] = 2;
    }
    h = nncl_relu(g, nncl_batch_norm(g, nncl_conv(g, h, &c, conv), NULL, bn), NULL);
    return nncl_max_pool(g, h, &p, pool);
}

/* Global average pooling and a 10-way linear classifier. */
static nncl_node *classifier(nncl_graph *g, nncl_node *h) {
    return nncl_linear(g, nncl_flatten(g, nncl_global_avg_pool(g, h, "gap"), NULL), 10, NULL, "fc");
}

/* A 1D CNN over 1x256 waveforms (ECG-like signals). */
static nncl_node *ecg1d(nncl_graph *g, nncl_node *x) {
    nncl_node *h = conv_block(g, x, 1, 1, 16, 7);
    h = conv_block(g, h, 2, 1, 32, 5);
    return classifier(g, conv_block(g, h, 3, 1, 64, 3));
}

/* A 3D CNN over 1x16x32x32 volumes. */
static nncl_node *cnn3d(nncl_graph *g, nncl_node *x) {
    return classifier(g, conv_block(g, conv_block(g, x, 1, 3, 16, 3), 2, 3, 32, 3));
}

/* Two transposed-convolution blocks upsampling 32x16x16 features to
 * 16x64x64 (a DCGAN generator's layers: kernel 4, stride 2, padding 1),
 * then a classifier: a benchmark of transposed convolution. */
static nncl_node *deconv2d(nncl_graph *g, nncl_node *x) {
    nncl_node *h = x;
    static const int64_t widths[2] = {32, 16};
    for (int i = 0; i < 2; i++) {
        char up[16], bn[16];
        snprintf(up, sizeof up, "up%d", i + 1);
        snprintf(bn, sizeof bn, "bn%d", i + 1);
        h = nncl_conv_transpose(
            g, h,
            &(nncl_conv_transpose_params){
                .out_channels = widths[i], .kernel = {4, 4}, .stride = {2, 2}, .padding = {1, 1}},
            up);
        h = nncl_relu(g, nncl_batch_norm(g, h, NULL, bn), NULL);
    }
    return classifier(g, h);
}

static const model_info models[] = {
    {"fashion_cnn", "2 conv blocks + 2 linear layers for 1x28x28 images, 10 classes",
     NNCL_SHAPE(1, 28, 28), 10, fashion_cnn},
    {"resnet18_cifar", "ResNet-18 with a 3x3 stem for 3x32x32 images, 10 classes",
     NNCL_SHAPE(3, 32, 32), 10, resnet18_cifar},
    {"ecg1d", "3 conv1d blocks over 1x256 signals, 10 classes", NNCL_SHAPE(1, 256), 10, ecg1d},
    {"cnn3d", "2 conv3d blocks over 1x16x32x32 volumes, 10 classes", NNCL_SHAPE(1, 16, 32, 32), 10,
     cnn3d},
    {"deconv2d", "2 transposed conv blocks upsampling 32x16x16 to 16x64x64, 10 classes",
     NNCL_SHAPE(32, 16, 16), 10, deconv2d},
};

const model_info *model_find(const char *name) {
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++)
        if (!strcmp(models[i].name, name)) return &models[i];
    return NULL;
}

const model_info *model_at(size_t i) {
    return i < sizeof models / sizeof models[0] ? &models[i] : NULL;
}

const char *model_names(void) {
    static char names[256];
    if (!names[0])
        for (size_t i = 0; i < sizeof models / sizeof models[0]; i++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "",
                     models[i].name);
    return names;
}
