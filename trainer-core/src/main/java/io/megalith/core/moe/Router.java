package io.megalith.core.moe;

import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.core.nn.Linear;
import io.megalith.core.nn.Module;

/** The router: logits = x W_r^T, W_r [experts, C] without bias; probabilities are softmax(logits) in fp32. */
public final class Router extends Module {
    private final Linear gate;

    public Router(String prefix, long width, int experts) {
        super(prefix);
        this.gate = child(new Linear(childName("gate"), width, experts, false, 0.02));
    }

    /** Router logits [N, E] of tokens [N, C]. */
    public PtNDArray logits(PtNDArray x) {
        return gate.forward(x);
    }
}
