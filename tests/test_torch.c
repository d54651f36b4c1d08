/* Forward and backward against values PyTorch computed, stored in
 * tests/data/torch_reference.txt by tools/gen-torch-reference.py: every op
 * in the dimensions it has, with PyTorch's own parameter names, and a small
 * network end to end (loss and every parameter gradient). */
#include "harness.h"
#include "torch_data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct module_case {
    const char *name;
    nncl_node *(*build)(nncl_graph *g, nncl_node *x);
    bool eval;
} module_case;

#define CONV(...) nncl_conv(g, x, &(nncl_conv_params){__VA_ARGS__}, "m")
#define POOL(fn, ...) fn(g, x, &(nncl_pool_params){__VA_ARGS__}, "m")
static nncl_node *conv2d(nncl_graph *g, nncl_node *x) {
    return CONV(.out_channels = 4, .kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1});
}
static nncl_node *conv1d(nncl_graph *g, nncl_node *x) {
    return CONV(.out_channels = 6, .kernel = {3}, .padding = {2}, .dilation = {2}, .groups = 2);
}
static nncl_node *conv3d(nncl_graph *g, nncl_node *x) {
    return CONV(.out_channels = 3, .kernel = {2, 3, 3}, .stride = {1, 2, 1}, .padding = {1, 0, 1});
}
static nncl_node *depthwise(nncl_graph *g, nncl_node *x) {
    return CONV(.out_channels = 3, .kernel = {3, 3}, .padding = {1, 1}, .groups = 3,
                .no_bias = true);
}
static nncl_node *max_pool2d(nncl_graph *g, nncl_node *x) {
    return POOL(nncl_max_pool, .kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1},
                .ceil_mode = true);
}
static nncl_node *max_pool1d(nncl_graph *g, nncl_node *x) {
    return POOL(nncl_max_pool, .kernel = {3}, .stride = {2}, .padding = {1}, .dilation = {2});
}
static nncl_node *max_pool3d(nncl_graph *g, nncl_node *x) {
    return POOL(nncl_max_pool, .kernel = {2, 2, 2}, .padding = {1, 1, 1});
}
static nncl_node *avg_pool2d(nncl_graph *g, nncl_node *x) {
    return POOL(nncl_avg_pool, .kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1},
                .exclude_pad = true, .ceil_mode = true);
}
static nncl_node *avg_pool1d(nncl_graph *g, nncl_node *x) {
    return POOL(nncl_avg_pool, .kernel = {4}, .stride = {3}, .padding = {2});
}
static nncl_node *avg_pool3d(nncl_graph *g, nncl_node *x) {
    return POOL(nncl_avg_pool, .kernel = {2, 2, 3}, .stride = {1, 2, 2}, .padding = {1, 1, 1});
}
static nncl_node *global_avg(nncl_graph *g, nncl_node *x) {
    return nncl_global_avg_pool(g, x, "m");
}
static nncl_node *global_max(nncl_graph *g, nncl_node *x) {
    return nncl_global_max_pool(g, x, "m");
}
static nncl_node *bn(nncl_graph *g, nncl_node *x) {
    return nncl_batch_norm(g, x, NULL, "m");
}
static nncl_node *bn1d(nncl_graph *g, nncl_node *x) {
    return nncl_batch_norm(g, x, &(nncl_batch_norm_params){.momentum = 0.3f, .eps = 1e-3f}, "m");
}
static nncl_node *relu(nncl_graph *g, nncl_node *x) {
    return nncl_relu(g, x, NULL);
}
static nncl_node *leaky(nncl_graph *g, nncl_node *x) {
    return nncl_leaky_relu(g, x, 0.1f, NULL);
}
static nncl_node *sigmoid(nncl_graph *g, nncl_node *x) {
    return nncl_sigmoid(g, x, NULL);
}
static nncl_node *tanh_(nncl_graph *g, nncl_node *x) {
    return nncl_tanh(g, x, NULL);
}
static nncl_node *elu(nncl_graph *g, nncl_node *x) {
    return nncl_elu(g, x, 0.7f, NULL);
}
static nncl_node *linear(nncl_graph *g, nncl_node *x) {
    return nncl_linear(g, x, 4, NULL, "m");
}
static nncl_node *softmax(nncl_graph *g, nncl_node *x) {
    return nncl_softmax(g, x, NULL);
}

#define UP(...) nncl_conv_transpose(g, x, &(nncl_conv_transpose_params){__VA_ARGS__}, "m")
static nncl_node *conv_transpose1d(nncl_graph *g, nncl_node *x) {
    return UP(.out_channels = 6, .kernel = {3}, .stride = {2}, .padding = {1},
              .output_padding = {1}, .groups = 2);
}
static nncl_node *conv_transpose2d(nncl_graph *g, nncl_node *x) {
    return UP(.out_channels = 4, .kernel = {3, 2}, .stride = {2, 3}, .padding = {1, 0},
              .dilation = {1, 2});
}
static nncl_node *conv_transpose2d_unet(nncl_graph *g, nncl_node *x) {
    return UP(.out_channels = 2, .kernel = {2, 2}, .stride = {2, 2}, .no_bias = true);
}
static nncl_node *conv_transpose3d(nncl_graph *g, nncl_node *x) {
    return UP(.out_channels = 3, .kernel = {2, 3, 3}, .stride = {2, 1, 2}, .padding = {0, 1, 1},
              .output_padding = {1, 0, 1});
}

static nncl_node *gelu(nncl_graph *g, nncl_node *x) {
    return nncl_gelu(g, x, false, NULL);
}
static nncl_node *gelu_tanh(nncl_graph *g, nncl_node *x) {
    return nncl_gelu(g, x, true, NULL);
}
static nncl_node *silu(nncl_graph *g, nncl_node *x) {
    return nncl_silu(g, x, NULL);
}
static nncl_node *softplus(nncl_graph *g, nncl_node *x) {
    return nncl_softplus(g, x, 2.0f, 2.5f, NULL);
}
static nncl_node *relu6(nncl_graph *g, nncl_node *x) {
    return nncl_relu6(g, x, NULL);
}
static nncl_node *hardsigmoid(nncl_graph *g, nncl_node *x) {
    return nncl_hardsigmoid(g, x, NULL);
}
static nncl_node *hardswish(nncl_graph *g, nncl_node *x) {
    return nncl_hardswish(g, x, NULL);
}
static nncl_node *prelu(nncl_graph *g, nncl_node *x) {
    return nncl_prelu(g, x, 3, 0.25f, "m");
}
static nncl_node *prelu_shared(nncl_graph *g, nncl_node *x) {
    return nncl_prelu(g, x, 1, 0.25f, "m");
}
static nncl_node *maxout(nncl_graph *g, nncl_node *x) {
    return nncl_maxout(g, x, 3, NULL);
}

#define UPSAMPLE(...) nncl_upsample(g, x, &(nncl_upsample_params){__VA_ARGS__}, NULL)
static nncl_node *up_nearest1d(nncl_graph *g, nncl_node *x) {
    return UPSAMPLE(.mode = NNCL_UPSAMPLE_NEAREST, .scale = {2});
}
static nncl_node *up_nearest2d(nncl_graph *g, nncl_node *x) {
    return UPSAMPLE(.mode = NNCL_UPSAMPLE_NEAREST, .size = {7, 4});
}
static nncl_node *up_nearest3d(nncl_graph *g, nncl_node *x) {
    return UPSAMPLE(.mode = NNCL_UPSAMPLE_NEAREST, .scale = {1.5, 2, 1});
}
static nncl_node *up_linear1d(nncl_graph *g, nncl_node *x) {
    return UPSAMPLE(.mode = NNCL_UPSAMPLE_LINEAR, .size = {9}, .align_corners = true);
}
static nncl_node *up_bilinear(nncl_graph *g, nncl_node *x) {
    return UPSAMPLE(.mode = NNCL_UPSAMPLE_LINEAR, .scale = {2, 2});
}
static nncl_node *up_bilinear_aligned(nncl_graph *g, nncl_node *x) {
    return UPSAMPLE(.mode = NNCL_UPSAMPLE_LINEAR, .size = {5, 7}, .align_corners = true);
}
static nncl_node *up_bilinear_frac(nncl_graph *g, nncl_node *x) {
    return UPSAMPLE(.mode = NNCL_UPSAMPLE_LINEAR, .scale = {1.5, 2.5});
}
static nncl_node *up_trilinear(nncl_graph *g, nncl_node *x) {
    return UPSAMPLE(.mode = NNCL_UPSAMPLE_LINEAR, .scale = {2, 2, 2});
}

static nncl_node *group_norm2d(nncl_graph *g, nncl_node *x) {
    return nncl_group_norm(g, x, 3, NULL, "m");
}
static nncl_node *group_norm1d(nncl_graph *g, nncl_node *x) {
    return nncl_group_norm(g, x, 2, &(nncl_norm_params){.eps = 1e-3f}, "m");
}
static nncl_node *layer_norm(nncl_graph *g, nncl_node *x) {
    return nncl_layer_norm(g, x, 1, NULL, "m");
}
static nncl_node *layer_norm2(nncl_graph *g, nncl_node *x) {
    return nncl_layer_norm(g, x, 2, NULL, "m");
}
static nncl_node *instance_norm2d(nncl_graph *g, nncl_node *x) {
    return nncl_instance_norm(g, x, &(nncl_instance_norm_params){.affine = true}, "m");
}
static nncl_node *instance_norm1d_track(nncl_graph *g, nncl_node *x) {
    return nncl_instance_norm(
        g, x, &(nncl_instance_norm_params){.track_running_stats = true, .momentum = 0.3f}, "m");
}
static nncl_node *instance_norm3d_eval(nncl_graph *g, nncl_node *x) {
    return nncl_instance_norm(
        g, x, &(nncl_instance_norm_params){.affine = true, .track_running_stats = true}, "m");
}

#define ADAPTIVE(max, ...) nncl_adaptive_pool(g, x, max, (const int64_t[3]){__VA_ARGS__}, NULL)
static nncl_node *adaptive_avg1d(nncl_graph *g, nncl_node *x) {
    return ADAPTIVE(false, 4);
}
static nncl_node *adaptive_max2d(nncl_graph *g, nncl_node *x) {
    return ADAPTIVE(true, 3, 2);
}
static nncl_node *adaptive_avg2d_keep(nncl_graph *g, nncl_node *x) {
    return ADAPTIVE(false, 7, 0);
}
static nncl_node *adaptive_avg3d(nncl_graph *g, nncl_node *x) {
    return ADAPTIVE(false, 2, 3, 1);
}
static nncl_node *adaptive_max3d(nncl_graph *g, nncl_node *x) {
    return ADAPTIVE(true, 3, 2, 2);
}
static nncl_node *lrn(nncl_graph *g, nncl_node *x) {
    return nncl_local_response_norm(g, x, 5, 1e-4f, 0.75f, 1.0f, NULL);
}
static nncl_node *lrn_even(nncl_graph *g, nncl_node *x) {
    return nncl_local_response_norm(g, x, 2, 0.5f, 0.6f, 2.0f, NULL);
}

static nncl_node *weight(nncl_graph *g, nncl_shape shape) {
    return nncl_parameter(g, "m.weight", shape, NNCL_INIT_ZEROS, 0.0f);
}
static nncl_node *permute(nncl_graph *g, nncl_node *x) {
    return nncl_permute(g, x, (const int32_t[]){0, 2, 3, 1}, NULL);
}
static nncl_node *bcast_mul(nncl_graph *g, nncl_node *x) {
    return nncl_mul(g, x, weight(g, NNCL_SHAPE(1, 4, 1, 1)), NULL);
}
static nncl_node *bcast_sub(nncl_graph *g, nncl_node *x) {
    return nncl_sub(g, x, weight(g, NNCL_SHAPE(3, 1)), NULL);
}
static nncl_node *bcast_div(nncl_graph *g, nncl_node *x) {
    nncl_node *den = nncl_scale(g, nncl_mul(g, x, x, NULL), 1.0f, 1.0f, NULL);
    return nncl_div(g, weight(g, NNCL_SHAPE(5)), den, NULL);
}
static nncl_node *matmul_param(nncl_graph *g, nncl_node *x) {
    return nncl_matmul(g, x, weight(g, NNCL_SHAPE(4, 5)), NULL);
}
static nncl_node *gram(nncl_graph *g, nncl_node *x) {
    nncl_node *f = nncl_reshape(g, x, NNCL_SHAPE(2, 3, 12), NULL);
    return nncl_scale(g, nncl_matmul(g, f, nncl_transpose(g, f, 1, 2, NULL), NULL), 1.0f / 12, 0.0f,
                      NULL);
}
static nncl_node *reduce_sum(nncl_graph *g, nncl_node *x) {
    return nncl_reduce(g, x, NNCL_REDUCE_SUM, (const int32_t[]){1}, 1, false, NULL);
}
static nncl_node *reduce_mean_keep(nncl_graph *g, nncl_node *x) {
    return nncl_reduce(g, x, NNCL_REDUCE_MEAN, (const int32_t[]){2, 3}, 2, true, NULL);
}
static nncl_node *reduce_max(nncl_graph *g, nncl_node *x) {
    return nncl_reduce(g, x, NNCL_REDUCE_MAX, (const int32_t[]){-1}, 1, false, NULL);
}
static nncl_node *softmax_last(nncl_graph *g, nncl_node *x) {
    return nncl_softmax_dim(g, x, -1, false, NULL);
}
static nncl_node *log_softmax0(nncl_graph *g, nncl_node *x) {
    return nncl_softmax_dim(g, x, 0, true, NULL);
}
static nncl_node *slice(nncl_graph *g, nncl_node *x) {
    return nncl_slice(g, x, 1, 1, 6, 2, NULL);
}
static nncl_node *pad_constant(nncl_graph *g, nncl_node *x) {
    return nncl_pad(g, x, (const int64_t[]){1, 2}, 2, NNCL_PAD_CONSTANT, 0.75f, NULL);
}
static nncl_node *pad_reflect(nncl_graph *g, nncl_node *x) {
    return nncl_pad(g, x, (const int64_t[]){2, 1, 1, 2}, 4, NNCL_PAD_REFLECT, 0.0f, NULL);
}
static nncl_node *pad_replicate(nncl_graph *g, nncl_node *x) {
    return nncl_pad(g, x, (const int64_t[]){3, 1}, 2, NNCL_PAD_REPLICATE, 0.0f, NULL);
}
static nncl_node *pad_reflect3d(nncl_graph *g, nncl_node *x) {
    return nncl_pad(g, x, (const int64_t[]){1, 1, 2, 0, 1, 1}, 6, NNCL_PAD_REFLECT, 0.0f, NULL);
}

static const module_case cases[] = {
    {"permute", permute, false},
    {"bcast_mul", bcast_mul, false},
    {"bcast_sub", bcast_sub, false},
    {"bcast_div", bcast_div, false},
    {"matmul_param", matmul_param, false},
    {"gram", gram, false},
    {"reduce_sum", reduce_sum, false},
    {"reduce_mean_keep", reduce_mean_keep, false},
    {"reduce_max", reduce_max, false},
    {"softmax_last", softmax_last, false},
    {"log_softmax0", log_softmax0, false},
    {"slice", slice, false},
    {"pad_constant", pad_constant, false},
    {"pad_reflect", pad_reflect, false},
    {"pad_replicate", pad_replicate, false},
    {"pad_reflect3d", pad_reflect3d, false},
    {"adaptive_avg1d", adaptive_avg1d, false},
    {"adaptive_max2d", adaptive_max2d, false},
    {"adaptive_avg2d_keep", adaptive_avg2d_keep, false},
    {"adaptive_avg3d", adaptive_avg3d, false},
    {"adaptive_max3d", adaptive_max3d, false},
    {"lrn", lrn, false},
    {"lrn_even", lrn_even, false},
    {"group_norm2d", group_norm2d, false},
    {"group_norm1d", group_norm1d, false},
    {"layer_norm", layer_norm, false},
    {"layer_norm2", layer_norm2, false},
    {"instance_norm2d", instance_norm2d, false},
    {"instance_norm1d_track", instance_norm1d_track, false},
    {"instance_norm3d_eval", instance_norm3d_eval, true},
    {"up_nearest1d", up_nearest1d, false},
    {"up_nearest2d", up_nearest2d, false},
    {"up_nearest3d", up_nearest3d, false},
    {"up_linear1d", up_linear1d, false},
    {"up_bilinear", up_bilinear, false},
    {"up_bilinear_aligned", up_bilinear_aligned, false},
    {"up_bilinear_frac", up_bilinear_frac, false},
    {"up_trilinear", up_trilinear, false},
    {"gelu", gelu, false},
    {"gelu_tanh", gelu_tanh, false},
    {"silu", silu, false},
    {"softplus", softplus, false},
    {"relu6", relu6, false},
    {"hardsigmoid", hardsigmoid, false},
    {"hardswish", hardswish, false},
    {"prelu", prelu, false},
    {"prelu_shared", prelu_shared, false},
    {"maxout", maxout, false},
    {"conv_transpose1d", conv_transpose1d, false},
    {"conv_transpose2d", conv_transpose2d, false},
    {"conv_transpose2d_unet", conv_transpose2d_unet, false},
    {"conv_transpose3d", conv_transpose3d, false},
    {"conv2d", conv2d, false},
    {"conv1d", conv1d, false},
    {"conv3d", conv3d, false},
    {"depthwise", depthwise, false},
    {"max_pool2d", max_pool2d, false},
    {"max_pool1d", max_pool1d, false},
    {"max_pool3d", max_pool3d, false},
    {"avg_pool2d", avg_pool2d, false},
    {"avg_pool1d", avg_pool1d, false},
    {"avg_pool3d", avg_pool3d, false},
    {"global_avg", global_avg, false},
    {"global_max", global_max, false},
    {"bn2d_train", bn, false},
    {"bn1d_train", bn1d, false},
    {"bn3d_eval", bn, true},
    {"relu", relu, false},
    {"leaky_relu", leaky, false},
    {"sigmoid", sigmoid, false},
    {"tanh", tanh_, false},
    {"elu", elu, false},
    {"linear", linear, false},
    {"softmax", softmax, false},
};

static void run_case(const module_case *c) {
    const tensor *xt = need(c->name, "x");
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_node *x = nncl_input(g, "x", xt->shape);
    ASSERT_OK(nncl_input_set_requires_grad(g, x, true));
    nncl_node *y = c->build(g, x);
    if (!y) fail_msg("%s: %s", c->name, nncl_graph_error(g));
    load_params(g, c->name, false);
    float *xf = to_float(xt->v, xt->n);
    ASSERT_OK(nncl_graph_set_input(g, x, xf, (size_t)xt->n * sizeof(float)));
    nncl_graph_set_training(g, !c->eval);
    ASSERT_OK(nncl_graph_forward(g));
    compare(g, OUTPUT, y, NULL, c->name, "y");
    const tensor *up = need(c->name, "grad_out");
    float *upf = to_float(up->v, up->n);
    ASSERT_OK(nncl_graph_backward(g, y, upf, (size_t)up->n * sizeof(float)));
    compare(g, OUTPUT_GRAD, x, NULL, c->name, "dx");
    for (size_t k = 0; k < nncl_graph_param_count(g); k++) {
        nncl_param_info info;
        ASSERT_OK(nncl_graph_param_info(g, k, &info));
        char key[160];
        const char *suffix = strchr(info.name, '.') + 1;
        snprintf(key, sizeof key, info.trainable ? "grad.%s" : "after.%s", suffix);
        if (info.trainable || find(c->name, key))
            compare(g, info.trainable ? PARAM_GRAD : PARAM, NULL, info.name, c->name, key);
    }
    free(xf);
    free(upf);
    nncl_graph_destroy(g);
}

static void test_modules_match_pytorch(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(&cases[i]);
}

static void test_cross_entropy_matches_pytorch(void **state) {
    (void)state;
    const tensor *xt = need("cross_entropy", "x");
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_node *x = nncl_input(g, "x", xt->shape);
    ASSERT_OK(nncl_input_set_requires_grad(g, x, true));
    nncl_node *labels = nncl_input_labels(g, "labels", xt->shape.dims[0]);
    nncl_node *loss = nncl_cross_entropy(g, x, labels, NULL, "loss");
    float *xf = to_float(xt->v, xt->n);
    int32_t *l = labels_of(need("cross_entropy", "labels"));
    ASSERT_OK(nncl_graph_set_input(g, x, xf, (size_t)xt->n * sizeof(float)));
    ASSERT_OK(nncl_graph_set_input(g, labels, l, (size_t)xt->shape.dims[0] * sizeof(int32_t)));
    ASSERT_OK(nncl_graph_forward(g));
    compare(g, OUTPUT, loss, NULL, "cross_entropy", "y");
    ASSERT_OK(nncl_graph_backward(g, loss, NULL, 0));
    compare(g, OUTPUT_GRAD, x, NULL, "cross_entropy", "dx");
    free(xf);
    free(l);
    nncl_graph_destroy(g);
}

/* gen-torch-reference.py's SmallNet, with its names. */
static nncl_node *small_net(nncl_graph *g, nncl_node *x) {
    nncl_node *h = nncl_conv(
        g, x, &(nncl_conv_params){.out_channels = 4, .kernel = {3, 3}, .padding = {1, 1}}, "conv1");
    h = nncl_relu(g, nncl_batch_norm(g, h, NULL, "bn1"), NULL);
    h = nncl_max_pool(g, h, &(nncl_pool_params){.kernel = {2, 2}}, "pool");
    h = nncl_relu(
        g,
        nncl_conv(g, h, &(nncl_conv_params){.out_channels = 6, .kernel = {3, 3}, .stride = {2, 2}},
                  "conv2"),
        NULL);
    return nncl_linear(g, nncl_flatten(g, h, NULL), 3, NULL, "fc");
}

/* gen-torch-reference.py's Blocks: concat, residual add, pooling. */
static nncl_node *blocks(nncl_graph *g, nncl_node *x) {
    nncl_node *a = nncl_conv(
        g, x, &(nncl_conv_params){.out_channels = 4, .kernel = {3, 3}, .padding = {1, 1}}, "a");
    nncl_node *b = nncl_conv(g, x, &(nncl_conv_params){.out_channels = 2, .kernel = {1, 1}}, "b");
    nncl_node *h = nncl_concat(g, (nncl_node *[]){a, b}, 2, "cat");
    nncl_node *c = nncl_conv(
        g, h, &(nncl_conv_params){.out_channels = 6, .kernel = {3, 3}, .padding = {1, 1}}, "c");
    h = nncl_relu(g, nncl_add(g, c, h, NULL), NULL);
    h = nncl_avg_pool(g, h, &(nncl_pool_params){.kernel = {2, 2}}, "avg");
    h = nncl_global_max_pool(g, h, "gmax");
    return nncl_linear(g, nncl_flatten(g, h, NULL), 4, NULL, "fc");
}

/* Loss and every parameter gradient of a whole network against PyTorch. */
static void run_network(const char *test, nncl_node *(*build)(nncl_graph *, nncl_node *)) {
    const tensor *xt = need(test, "x");
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_node *x = nncl_input(g, "x", xt->shape);
    nncl_node *labels = nncl_input_labels(g, "labels", xt->shape.dims[0]);
    nncl_node *loss = nncl_cross_entropy(g, build(g, x), labels, NULL, "loss");
    if (!loss) fail_msg("%s: %s", test, nncl_graph_error(g));
    load_params(g, test, true);
    float *xf = to_float(xt->v, xt->n);
    int32_t *l = labels_of(need(test, "labels"));
    ASSERT_OK(nncl_graph_set_input(g, x, xf, (size_t)xt->n * sizeof(float)));
    ASSERT_OK(nncl_graph_set_input(g, labels, l, (size_t)xt->shape.dims[0] * sizeof(int32_t)));
    ASSERT_OK(nncl_graph_forward(g));
    compare(g, OUTPUT, loss, NULL, test, "y");
    ASSERT_OK(nncl_graph_backward(g, loss, NULL, 0));
    compare_param_grads(g, test);
    free(xf);
    free(l);
    nncl_graph_destroy(g);
}

static void test_networks_match_pytorch(void **state) {
    (void)state;
    run_network("net", small_net);
    run_network("blocks", blocks);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_modules_match_pytorch),
        cmocka_unit_test(test_cross_entropy_matches_pytorch),
        cmocka_unit_test(test_networks_match_pytorch),
    };
    return cmocka_run_group_tests(tests, torch_data_load, torch_data_unload);
}
