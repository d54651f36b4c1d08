/* The built-in models, written as a user would write them. */
#include "models.h"

#include <stdio.h>
#include <string.h>

/* conv 3x3 32 - BN - ReLU - max pool 2 - conv 3x3 64 - BN - ReLU - max pool 2
 * - flatten - linear 128 - ReLU - dropout 0.5 - linear 10: 421,834 parameters. */
static nncl_node *fashion_cnn(nncl_graph *g, nncl_node *x, const model_dims *d) {
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
    return nncl_linear(g, nncl_dropout(g, h, 0.5f, "dropout"), d->classes, NULL, "fc2");
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
static nncl_node *resnet18_cifar(nncl_graph *g, nncl_node *x, const model_dims *d) {
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
    return nncl_linear(g, h, d->classes, NULL, "fc");
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

/* Global average pooling and a linear classifier. */
static nncl_node *classifier(nncl_graph *g, nncl_node *h, const model_dims *d) {
    return nncl_linear(g, nncl_flatten(g, nncl_global_avg_pool(g, h, "gap"), NULL), d->classes,
                       NULL, "fc");
}

/* A 1D CNN over waveforms (ECG-like signals). */
static nncl_node *ecg1d(nncl_graph *g, nncl_node *x, const model_dims *d) {
    nncl_node *h = conv_block(g, x, 1, 1, 16, 7);
    h = conv_block(g, h, 2, 1, 32, 5);
    return classifier(g, conv_block(g, h, 3, 1, 64, 3), d);
}

/* A 3D CNN over volumes. */
static nncl_node *cnn3d(nncl_graph *g, nncl_node *x, const model_dims *d) {
    return classifier(g, conv_block(g, conv_block(g, x, 1, 3, 16, 3), 2, 3, 32, 3), d);
}

/* Two transposed-convolution blocks upsampling 32x16x16 features to
 * 16x64x64 (a DCGAN generator's layers: kernel 4, stride 2, padding 1),
 * then a classifier: a benchmark of transposed convolution. */
static nncl_node *deconv2d(nncl_graph *g, nncl_node *x, const model_dims *d) {
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
    return classifier(g, h, d);
}

/* conv 3x3 (same) - BN - ReLU in 2D, the U-Net's unit. */
static nncl_node *unet_unit(nncl_graph *g, nncl_node *x, int64_t width, const char *name) {
    char conv[32], bn[32];
    snprintf(conv, sizeof conv, "%s.conv", name);
    snprintf(bn, sizeof bn, "%s.bn", name);
    nncl_node *h = nncl_conv(
        g, x, &(nncl_conv_params){.out_channels = width, .kernel = {3, 3}, .padding = {1, 1}},
        conv);
    return nncl_relu(g, nncl_batch_norm(g, h, NULL, bn), NULL);
}

/* U-Net (Ronneberger et al. 2015) with two levels: max pooling down,
 * 2x2 stride-2 transposed convolutions up, skips concatenated, a 1x1 head
 * giving every pixel's class scores. H and W must be multiples of 4. */
static nncl_node *unet(nncl_graph *g, nncl_node *x, const model_dims *d) {
    nncl_pool_params pool = {.kernel = {2, 2}};
    nncl_conv_transpose_params up = {.kernel = {2, 2}, .stride = {2, 2}};
    nncl_node *e1 = unet_unit(g, x, 16, "enc1");
    nncl_node *e2 = unet_unit(g, nncl_max_pool(g, e1, &pool, "pool1"), 32, "enc2");
    nncl_node *b = unet_unit(g, nncl_max_pool(g, e2, &pool, "pool2"), 64, "bottom");
    up.out_channels = 32;
    nncl_node *u2 = nncl_conv_transpose(g, b, &up, "up2");
    nncl_node *d2 = unet_unit(g, nncl_concat(g, (nncl_node *[]){u2, e2}, 2, "skip2"), 32, "dec2");
    up.out_channels = 16;
    nncl_node *u1 = nncl_conv_transpose(g, d2, &up, "up1");
    nncl_node *d1 = unet_unit(g, nncl_concat(g, (nncl_node *[]){u1, e1}, 2, "skip1"), 16, "dec1");
    return nncl_conv(g, d1, &(nncl_conv_params){.out_channels = d->classes, .kernel = {1, 1}},
                     "head");
}

/* Kim (2014)'s sentence classifier on [1, L] token ids: a 64-wide
 * embedding (id 0 pads), 64 filters each of widths 3, 4 and 5, max over
 * time, dropout 0.5, linear. */
static nncl_node *textcnn(nncl_graph *g, nncl_node *ids, const model_dims *d) {
    nncl_shape s = nncl_node_shape(ids);
    nncl_node *e = nncl_embedding(
        g, ids, d->vocab, 64, &(nncl_embedding_params){.has_padding_idx = true, .padding_idx = 0},
        "embedding");
    e = nncl_reshape(g, e, NNCL_SHAPE(s.dims[0], s.dims[2], 64), NULL);
    e = nncl_permute(g, e, (const int32_t[]){0, 2, 1}, NULL); /* [N, L, E] -> [N, E, L] */
    nncl_node *branches[3];
    for (int w = 0; w < 3; w++) {
        char name[16];
        snprintf(name, sizeof name, "conv%d", w + 3);
        nncl_node *h =
            nncl_conv(g, e, &(nncl_conv_params){.out_channels = 64, .kernel = {w + 3}}, name);
        branches[w] = nncl_global_max_pool(g, nncl_relu(g, h, NULL), NULL);
    }
    nncl_node *h = nncl_flatten(g, nncl_concat(g, branches, 3, "features"), NULL);
    return nncl_linear(g, nncl_dropout(g, h, 0.5f, "dropout"), d->classes, NULL, "fc");
}

/* conv 3x3x3 - BN (- ReLU), named <name>.conv / <name>.bn. */
static nncl_node *conv3_bn(nncl_graph *g, nncl_node *x, int64_t width, int64_t k, int64_t stride,
                           const char *name, bool relu) {
    char conv[32], bn[32];
    snprintf(conv, sizeof conv, "%s.conv", name);
    snprintf(bn, sizeof bn, "%s.bn", name);
    nncl_node *h = nncl_conv(g, x,
                             &(nncl_conv_params){.out_channels = width,
                                                 .kernel = {k, k, k},
                                                 .stride = {stride, stride, stride},
                                                 .padding = {k / 2, k / 2, k / 2},
                                                 .no_bias = true},
                             conv);
    h = nncl_batch_norm(g, h, NULL, bn);
    return relu ? nncl_relu(g, h, NULL) : h;
}

/* A small 3D ResNet for volumes: a stem and three residual blocks (16, 32,
 * 64 channels; the last two halve the size, with 1x1x1 projections). */
static nncl_node *volume3d(nncl_graph *g, nncl_node *x, const model_dims *d) {
    nncl_node *h = conv3_bn(g, x, 16, 3, 1, "stem", true);
    static const int64_t widths[3] = {16, 32, 64};
    for (int b = 0; b < 3; b++) {
        char n1[32], n2[32], proj[32];
        snprintf(n1, sizeof n1, "layer%d.1", b + 1);
        snprintf(n2, sizeof n2, "layer%d.2", b + 1);
        snprintf(proj, sizeof proj, "layer%d.proj", b + 1);
        int64_t stride = b ? 2 : 1;
        nncl_node *r =
            conv3_bn(g, conv3_bn(g, h, widths[b], 3, stride, n1, true), widths[b], 3, 1, n2, false);
        nncl_node *shortcut = b ? conv3_bn(g, h, widths[b], 1, stride, proj, false) : h;
        h = nncl_relu(g, nncl_add(g, r, shortcut, NULL), NULL);
    }
    return classifier(g, h, d);
}

static const model_info models[] = {
    {.name = "fashion_cnn",
     .summary = "2 conv blocks + 2 linear layers for 1x28x28 images",
     .input = NNCL_SHAPE(1, 28, 28),
     .dims = {.classes = 10},
     .build = fashion_cnn},
    {.name = "resnet18_cifar",
     .alias = "resnet18",
     .summary = "ResNet-18, 3x3 stem (11.2 M parameters), CxHxW images (CIFAR: 3x32x32)",
     .input = NNCL_SHAPE(3, 32, 32),
     .dims = {.classes = 10},
     .build = resnet18_cifar},
    {.name = "ecg1d",
     .alias = "ecg",
     .summary = "3 conv1d blocks over CxL signals (ECG windows)",
     .input = NNCL_SHAPE(1, 256),
     .dims = {.classes = 10},
     .build = ecg1d},
    {.name = "cnn3d",
     .summary = "2 conv3d blocks over CxDxHxW volumes",
     .input = NNCL_SHAPE(1, 16, 32, 32),
     .dims = {.classes = 10},
     .build = cnn3d},
    {.name = "volume3d",
     .summary = "a 3D ResNet (stem + 3 residual blocks) over CxDxHxW volumes",
     .input = NNCL_SHAPE(1, 16, 16, 16),
     .dims = {.classes = 10},
     .build = volume3d},
    {.name = "unet",
     .summary = "a two-level U-Net: a class per pixel of CxHxW images (H, W multiples of 4)",
     .input = NNCL_SHAPE(1, 64, 64),
     .dims = {.classes = 3},
     .dense = true,
     .build = unet},
    {.name = "textcnn",
     .summary = "Kim's TextCNN over 1xL token ids (id 0 pads)",
     .input = NNCL_SHAPE(1, 64),
     .dims = {.classes = 4, .vocab = 1000},
     .ids = true,
     .build = textcnn},
    {.name = "deconv2d",
     .summary = "2 transposed conv blocks upsampling 32x16x16 to 16x64x64",
     .input = NNCL_SHAPE(32, 16, 16),
     .dims = {.classes = 10},
     .build = deconv2d},
};

nncl_node *model_graph(nncl_graph *g, const model_info *m, int64_t batch, nncl_shape sample,
                       const model_dims *d, nncl_node **x, nncl_node **y) {
    nncl_shape in = {.rank = sample.rank + 1, .dims = {batch}};
    nncl_shape labels = {.rank = m->dense ? sample.rank : 1, .dims = {batch}};
    for (int32_t i = 0; i < sample.rank; i++) {
        in.dims[i + 1] = sample.dims[i];
        if (m->dense && i > 0) labels.dims[i] = sample.dims[i];
    }
    *x = m->ids ? nncl_input_labels_nd(g, "tokens", in) : nncl_input(g, "x", in);
    *y = nncl_input_labels_nd(g, "label", labels);
    return m->build(g, *x, d);
}

const model_info *model_find(const char *name) {
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++)
        if (!strcmp(models[i].name, name) || (models[i].alias && !strcmp(models[i].alias, name)))
            return &models[i];
    return NULL;
}

const model_info *model_at(size_t i) {
    return i < sizeof models / sizeof models[0] ? &models[i] : NULL;
}

const char *model_names(void) {
    static char names[512];
    if (!names[0])
        for (size_t i = 0; i < sizeof models / sizeof models[0]; i++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s%s%s%s",
                     i ? ", " : "", models[i].name, models[i].alias ? " (or " : "",
                     models[i].alias ? models[i].alias : "", models[i].alias ? ")" : "");
    return names;
}
