/* Small networks of the CNN families, built with PyTorch's module names and
 * loaded with the weights tools/gen-torch-reference.py drew: a two-level
 * U-Net (transposed convolutions, concatenated skips, per-pixel
 * cross-entropy with ignored pixels), a TextCNN (embedding, three
 * convolution widths, max over time) and an attention-pooling head. Each
 * matches PyTorch's loss and every parameter gradient. And Grad-CAM: the
 * gradient of chosen class scores, with no loss node, with respect to
 * kept feature maps and the input, and the map built from them. */
#include "harness.h"
#include "torch_data.h"

#include <stdio.h>
#include <stdlib.h>

#define CONV(x, name, ...) nncl_conv(g, x, &(nncl_conv_params){__VA_ARGS__}, name)
#define UP(x, name, ...) nncl_conv_transpose(g, x, &(nncl_conv_transpose_params){__VA_ARGS__}, name)

static nncl_node *cat2(nncl_graph *g, nncl_node *a, nncl_node *b) {
    return nncl_concat(g, (nncl_node *[]){a, b}, 2, NULL);
}

static nncl_node *pool2(nncl_graph *g, nncl_node *x) {
    return nncl_max_pool(g, x, &(nncl_pool_params){.kernel = {2, 2}}, NULL);
}

static nncl_node *unet(nncl_graph *g, nncl_node *x) {
    nncl_node *e1 = nncl_relu(
        g,
        nncl_batch_norm(g, CONV(x, "enc1", .out_channels = 4, .kernel = {3, 3}, .padding = {1, 1}),
                        NULL, "bn1"),
        NULL);
    nncl_node *e2 = nncl_relu(
        g, CONV(pool2(g, e1), "enc2", .out_channels = 8, .kernel = {3, 3}, .padding = {1, 1}),
        NULL);
    nncl_node *b = nncl_relu(
        g, CONV(pool2(g, e2), "bottom", .out_channels = 16, .kernel = {3, 3}, .padding = {1, 1}),
        NULL);
    nncl_node *u2 = UP(b, "up2", .out_channels = 8, .kernel = {2, 2}, .stride = {2, 2});
    nncl_node *d2 = nncl_relu(
        g, CONV(cat2(g, u2, e2), "dec2", .out_channels = 8, .kernel = {3, 3}, .padding = {1, 1}),
        NULL);
    nncl_node *u1 = UP(d2, "up1", .out_channels = 4, .kernel = {2, 2}, .stride = {2, 2});
    nncl_node *d1 = nncl_relu(
        g, CONV(cat2(g, u1, e1), "dec1", .out_channels = 4, .kernel = {3, 3}, .padding = {1, 1}),
        NULL);
    return CONV(d1, "head", .out_channels = 3, .kernel = {1, 1});
}

static nncl_node *textcnn(nncl_graph *g, nncl_node *ids) {
    nncl_node *e = nncl_embedding(
        g, ids, 20, 6, &(nncl_embedding_params){.has_padding_idx = true, .padding_idx = 0}, "emb");
    e = nncl_permute(g, e, (const int32_t[]){0, 2, 1}, NULL);
    nncl_node *h[3];
    const char *names[3] = {"convs.0", "convs.1", "convs.2"};
    for (int k = 0; k < 3; k++)
        h[k] = nncl_global_max_pool(
            g, nncl_relu(g, CONV(e, names[k], .out_channels = 4, .kernel = {k + 2}), NULL), NULL);
    nncl_node *cat = nncl_concat(g, h, 3, NULL);
    return nncl_linear(g, nncl_flatten(g, cat, NULL), 3, NULL, "fc");
}

static nncl_node *attn_head(nncl_graph *g, nncl_node *x) {
    nncl_node *h = nncl_gelu(
        g, CONV(x, "conv", .out_channels = 6, .kernel = {3, 3}, .padding = {1, 1}), false, NULL);
    return nncl_linear(g, nncl_attention_pool(g, h, 2, "attn"), 4, NULL, "fc");
}

/* Builds `build` on the case's input (token ids when ids is set), a
 * cross-entropy over the stored labels, and compares loss and gradients. */
static void run_family(const char *test, nncl_node *(*build)(nncl_graph *, nncl_node *), bool ids) {
    const tensor *xt = need(test, "x"), *lt = need(test, "labels");
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_node *x = ids ? nncl_input_labels_nd(g, "x", xt->shape) : nncl_input(g, "x", xt->shape);
    nncl_node *labels = nncl_input_labels_nd(g, "labels", lt->shape);
    nncl_node *loss = nncl_cross_entropy(g, build(g, x), labels, NULL, "loss");
    if (!loss) fail_msg("%s: %s", test, nncl_graph_error(g));
    load_params(g, test, true);
    int32_t *l = labels_of(lt);
    if (ids) {
        int32_t *tokens = labels_of(xt);
        ASSERT_OK(nncl_graph_set_input(g, x, tokens, (size_t)xt->n * sizeof(int32_t)));
        free(tokens);
    } else {
        float *xf = to_float(xt->v, xt->n);
        ASSERT_OK(nncl_graph_set_input(g, x, xf, (size_t)xt->n * sizeof(float)));
        free(xf);
    }
    ASSERT_OK(nncl_graph_set_input(g, labels, l, (size_t)lt->n * sizeof(int32_t)));
    ASSERT_OK(nncl_graph_forward(g));
    compare(g, OUTPUT, loss, NULL, test, "y");
    ASSERT_OK(nncl_graph_backward(g, loss, NULL, 0));
    compare_param_grads(g, test);
    free(l);
    nncl_graph_destroy(g);
}

static void test_unet_matches_pytorch(void **state) {
    (void)state;
    run_family("unet", unet, false);
}

static void test_textcnn_matches_pytorch(void **state) {
    (void)state;
    run_family("textcnn", textcnn, true);
}

static void test_attention_head_matches_pytorch(void **state) {
    (void)state;
    run_family("attn_head", attn_head, false);
}

static void test_gradcam_matches_pytorch(void **state) {
    (void)state;
    const tensor *xt = need("gradcam", "x");
    int32_t *cls = labels_of(need("gradcam", "class"));
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_node *x = nncl_input(g, "x", xt->shape);
    ASSERT_OK(nncl_input_set_requires_grad(g, x, true));
    nncl_node *h = nncl_relu(
        g, CONV(x, "conv1", .out_channels = 4, .kernel = {3, 3}, .padding = {1, 1}), NULL);
    nncl_node *features = nncl_relu(
        g, CONV(h, "conv2", .out_channels = 6, .kernel = {3, 3}, .padding = {1, 1}), "features");
    nncl_node *logits = nncl_linear(
        g, nncl_flatten(g, nncl_global_avg_pool(g, features, NULL), NULL), 3, NULL, "fc");
    ASSERT_OK(nncl_graph_keep(g, features));
    load_params(g, "gradcam", true);
    float *xf = to_float(xt->v, xt->n);
    ASSERT_OK(nncl_graph_set_input(g, x, xf, (size_t)xt->n * sizeof(float)));
    nncl_graph_set_training(g, false);
    ASSERT_OK(nncl_graph_forward(g));
    /* The class scores' gradient: one-hot upstream on the logits. */
    float up[6] = {0};
    up[0 * 3 + cls[0]] = up[1 * 3 + cls[1]] = 1.0f;
    ASSERT_OK(nncl_graph_backward(g, logits, up, sizeof up));
    compare(g, OUTPUT, features, NULL, "gradcam", "features");
    compare(g, OUTPUT_GRAD, features, NULL, "gradcam", "grad.features");
    compare(g, OUTPUT_GRAD, x, NULL, "gradcam", "dx");
    /* The map: relu(sum_c mean(dA_c) A_c) per sample and pixel. */
    float a[2 * 6 * 25], da[2 * 6 * 25], cam[2 * 25];
    ASSERT_OK(nncl_graph_read(g, features, a, sizeof a));
    ASSERT_OK(nncl_graph_read_grad(g, features, da, sizeof da));
    for (int n = 0; n < 2; n++)
        for (int p = 0; p < 25; p++) {
            double v = 0;
            for (int c = 0; c < 6; c++) {
                double alpha = 0;
                for (int q = 0; q < 25; q++)
                    alpha += da[(n * 6 + c) * 25 + q] / 25.0;
                v += alpha * a[(n * 6 + c) * 25 + p];
            }
            cam[n * 25 + p] = (float)(v > 0 ? v : 0);
        }
    const tensor *want = need("gradcam", "cam");
    assert_close("gradcam: cam", cam, want->v, want->n, 1e-4, 1e-5);
    free(xf);
    free(cls);
    nncl_graph_destroy(g);
}

/* Embedding with max_norm: the looked-up rows renormalised in the table,
 * the output, the table after and its gradient as PyTorch. */
static void test_embedding_max_norm_matches_pytorch(void **state) {
    (void)state;
    const tensor *it = need("embedding_max_norm", "ids"), *w = need("embedding_max_norm", "weight");
    const tensor *up = need("embedding_max_norm", "grad_out");
    nncl_graph *g;
    ASSERT_OK(nncl_graph_create(test_context(), NULL, &g));
    nncl_node *ids = nncl_input_labels_nd(g, "ids", it->shape);
    nncl_node *y = nncl_embedding(
        g, ids, 10, 4,
        &(nncl_embedding_params){.has_padding_idx = true, .padding_idx = 9, .max_norm = 1.0f}, "m");
    float *wf = to_float(w->v, w->n), *upf = to_float(up->v, up->n);
    int32_t *id = labels_of(it);
    ASSERT_OK(nncl_graph_param_write(g, "m.weight", wf, (size_t)w->n * sizeof(float)));
    ASSERT_OK(nncl_graph_set_input(g, ids, id, (size_t)it->n * sizeof(int32_t)));
    ASSERT_OK(nncl_graph_forward(g));
    compare(g, OUTPUT, y, NULL, "embedding_max_norm", "y");
    ASSERT_OK(nncl_graph_backward(g, y, upf, (size_t)up->n * sizeof(float)));
    compare(g, PARAM_GRAD, NULL, "m.weight", "embedding_max_norm", "grad.weight");
    compare(g, PARAM, NULL, "m.weight", "embedding_max_norm", "after.weight");
    free(wf);
    free(upf);
    free(id);
    nncl_graph_destroy(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unet_matches_pytorch),
        cmocka_unit_test(test_textcnn_matches_pytorch),
        cmocka_unit_test(test_attention_head_matches_pytorch),
        cmocka_unit_test(test_gradcam_matches_pytorch),
        cmocka_unit_test(test_embedding_max_norm_matches_pytorch),
    };
    return cmocka_run_group_tests(tests, torch_data_load, torch_data_unload);
}
