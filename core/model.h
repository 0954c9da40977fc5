/* model.h — internal: the model struct and the parameter layout. Parameters and gradients share
 * one layout (offsets in floats), so the same offsets address either buffer. */
#ifndef COPE_MODEL_H
#define COPE_MODEL_H

#include "cope.h"

#define COPE_NO_TENSOR ((size_t)-1)

typedef struct {
    size_t ln1_w, ln1_b, wq, bq, wk, bk, wv, bv, wo, bo, wkg, bkg, cope, rel;
    size_t ln2_w, ln2_b, fc1_w, fc1_b, fc2_w, fc2_b;
} layer_offsets;

struct cope_model {
    cope_config cfg;
    cope_tokenizer *tok;
    char *provenance; /* JSON object text */
    int n_tensors;
    cope_tensor_info *tensors;
    char *names; /* storage for tensor names */
    size_t n_params;
    float *params;
    size_t tok_emb, pos_emb, ln_f_w, ln_f_b, lm_head;
    layer_offsets *layers;
    float *rope_cs; /* [n_ctx, d/2, 2] cos, sin (RoPE variants) */
};

/* Builds the tensor list and offsets from m->cfg; allocates params (zeroed). */
cope_status model_alloc(cope_model *m, cope_error *err);
/* Offset of the output projection weight [V, D] (tok_emb when tied). */
size_t model_out_weight(const cope_model *m);

#endif
