/* gemm_tile.h — the tiling skeleton of the GEMM kernels (gemm.h), written once and included by
 * each instruction set's file after it defines:
 *   GEMM_NAME, GEMM_TARGET (a function attribute or nothing), VEC (the vector type), VL (lanes),
 *   MR (rows of a register tile), NV (vectors across a tile: NR = NV * VL columns),
 *   VZERO(), VLOAD(p), VSTORE(p, v), VBCAST(p) (one float in every lane), VFMA(c, x, b) = c + x*b,
 *   VADD(a, b), and VLOAD_PART(p, n) / VSTORE_PART(p, v, n) for the first n < VL lanes.
 * Loops: k in blocks of GEMM_KC (a block of B stays in L2 while every row tile uses it); rows in
 * tiles of MR (rows past the end repeat the last row and are never stored); columns in tiles of
 * NR, then single vectors, the last one partial. A tile sums over its k block in registers, in
 * order, then adds to out. Triangular products (gemm_tri) narrow each tile's k range and columns;
 * a tile whose range is empty is skipped, except in the first k block without acc, where it
 * writes its zeros. */

GEMM_TARGET void GEMM_NAME(const gemm_args *g, int r0, int r1) {
    const int K = g->K;
    const size_t aks = g->aks, ldb = g->ldb, ldo = g->ldo;
    for (int k0 = 0; k0 < K; k0 += GEMM_KC) {
        const int kn = K - k0 < GEMM_KC ? K - k0 : GEMM_KC;
        const int add = g->acc || k0 > 0;
        for (int n0 = r0; n0 < r1; n0 += MR) {
            const int nr = r1 - n0 < MR ? r1 - n0 : MR;
            const float *a[MR];
            for (int r = 0; r < MR; r++) a[r] = g->A + (size_t)(n0 + (r < nr ? r : nr - 1)) * g->ars;
            int kb, ke, M;
            gemm_tile_range(g, k0, kn, n0, nr, &kb, &ke, &M);
            if (kb == ke && add) continue;
            int m0 = 0;
            for (; m0 + NV * VL <= M; m0 += NV * VL) {
                VEC c[MR][NV];
                for (int r = 0; r < MR; r++)
                    for (int v = 0; v < NV; v++) c[r][v] = VZERO();
                const float *b = g->B + (size_t)kb * ldb + m0;
                for (int k = kb; k < ke; k++, b += ldb) {
                    VEC bv[NV];
                    for (int v = 0; v < NV; v++) bv[v] = VLOAD(b + v * VL);
                    for (int r = 0; r < MR; r++) {
                        VEC x = VBCAST(a[r] + (size_t)k * aks);
                        for (int v = 0; v < NV; v++) c[r][v] = VFMA(c[r][v], x, bv[v]);
                    }
                }
                for (int r = 0; r < nr; r++) {
                    float *o = g->out + (size_t)(n0 + r) * ldo + m0;
                    for (int v = 0; v < NV; v++) VSTORE(o + v * VL, add ? VADD(VLOAD(o + v * VL), c[r][v]) : c[r][v]);
                }
            }
            for (; m0 < M; m0 += VL) { /* leftover columns, one vector at a time */
                const int w = M - m0 < VL ? M - m0 : VL;
                VEC c[MR];
                for (int r = 0; r < MR; r++) c[r] = VZERO();
                const float *b = g->B + (size_t)kb * ldb + m0;
                for (int k = kb; k < ke; k++, b += ldb) {
                    VEC bv = w == VL ? VLOAD(b) : VLOAD_PART(b, w);
                    for (int r = 0; r < MR; r++) c[r] = VFMA(c[r], VBCAST(a[r] + (size_t)k * aks), bv);
                }
                for (int r = 0; r < nr; r++) {
                    float *o = g->out + (size_t)(n0 + r) * ldo + m0;
                    if (w == VL)
                        VSTORE(o, add ? VADD(VLOAD(o), c[r]) : c[r]);
                    else
                        VSTORE_PART(o, add ? VADD(VLOAD_PART(o, w), c[r]) : c[r], w);
                }
            }
        }
    }
}
