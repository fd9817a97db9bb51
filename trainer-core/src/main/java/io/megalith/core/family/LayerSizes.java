package io.megalith.core.family;

import io.megalith.core.config.MegalithConfig;

/** Parameter counts of the transformer parts every family shares, for width n_embd (with or without biases). */
record LayerSizes(long width, long attention, long mlp, long norm) {
    static LayerSizes of(MegalithConfig.Model m) {
        long c = m.nEmbd();
        long bias = m.bias() ? 1 : 0;
        return new LayerSizes(c, 3 * c * c + 3 * c * bias + c * c + c * bias, 8 * c * c + 5 * c * bias, c * (1 + bias));
    }
}
